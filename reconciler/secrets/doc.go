// Package secrets holds what the reconciler needs to read the encrypted credentials of
// a site (ENC[AGE,…] values, see schema.ParseEncrypted): it loads the reconciler's age
// identity file — refusing one that group or others can read, as ssh refuses a private
// key — and decrypts values with it.
//
// It never logs, and its errors never carry a ciphertext, a plaintext or key material:
// callers put them in diagnostics, plans and the Site status. Where a value sits in the
// site (file, line, field) is the caller's business (reconciler/render).
package secrets
