package main

import "regexp"

var retention = regexp.MustCompile(`(?m)^(\s*retention_time:)\s*\S+\s*$`)
