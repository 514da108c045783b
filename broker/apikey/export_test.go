package apikey

import "time"

// Format returns the key of id and secret, checksum included.
var Format = format

// SetClock makes k read the time from now.
func SetClock(k *Keys, now func() time.Time) { k.now = now }
