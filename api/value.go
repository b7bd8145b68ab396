package api

import (
	"encoding/base64"
	"fmt"
	"unicode/utf8"
)

// EncodingBase64 marks a value sent as base64 because it is not UTF-8.
const EncodingBase64 = "base64"

// EncodeValue renders a value for a JSON body: as is when it is valid
// UTF-8, else base64 with encoding "base64".
func EncodeValue(v []byte) (value, encoding string) {
	if utf8.Valid(v) {
		return string(v), ""
	}
	return base64.StdEncoding.EncodeToString(v), EncodingBase64
}

// DecodeValue reverses EncodeValue.
func DecodeValue(value, encoding string) ([]byte, error) {
	switch encoding {
	case "":
		return []byte(value), nil
	case EncodingBase64:
		return base64.StdEncoding.DecodeString(value)
	}
	return nil, fmt.Errorf("unknown value encoding %q", encoding)
}

// NewKV builds a KV, encoding value if it is not nil.
func NewKV(key string, value []byte, version uint64) KV {
	kv := KV{Key: key, Version: version}
	if value != nil {
		v, enc := EncodeValue(value)
		kv.Value, kv.Encoding = &v, enc
	}
	return kv
}
