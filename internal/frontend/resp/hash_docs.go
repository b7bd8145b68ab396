package resp

import "maps"

// COMMAND DOCS entries of the hash commands and TYPE, merged into
// commandDocs (commandinfo.go) when the package loads, so hash.go's
// commands are documented beside their code.
func init() { maps.Copy(commandDocs, hashDocs) }

var (
	aclReadHash  = []string{"@read", "@hash", "@fast"}
	aclWriteHash = []string{"@write", "@hash", "@fast"}
)

var hashDocs = map[string]commandDoc{
	"hset": {summary: "Set fields of a hash, creating it if the key holds nothing, and count the fields that are new (each field is written on its own, not atomically)",
		since: "2.0.0", group: "hash",
		complexity: "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.",
		acl:        aclWriteHash, keyFlags: []string{"RW", "update"},
		args: []argDoc{keyArg("key"), multiple(block("data", strArg("field"), strArg("value")))}},
	"hget": {summary: "Return the value of a field of a hash", since: "2.0.0", group: "hash", complexity: "O(1)",
		acl: aclReadHash, keyFlags: []string{"RO", "access"}, args: []argDoc{keyArg("key"), strArg("field")}},
	"hmget": {summary: "Return the values of fields of a hash (each read on its own)", since: "2.0.0", group: "hash",
		complexity: "O(N) where N is the number of fields being requested.", acl: aclReadHash,
		keyFlags: []string{"RO", "access"}, args: []argDoc{keyArg("key"), multiple(strArg("field"))}},
	"hgetall": {summary: "Return every field of a hash and its value, in field order (at most 100,000 fields)", since: "2.0.0",
		group: "hash", complexity: "O(N) where N is the size of the hash.", acl: []string{"@read", "@hash", "@slow"},
		tips: []string{"nondeterministic_output_order"}, keyFlags: []string{"RO", "access"}, args: []argDoc{keyArg("key")}},
	"hdel": {summary: "Delete fields of a hash and count those that existed; the hash goes with its last field", since: "2.0.0",
		group: "hash", complexity: "O(N) where N is the number of fields to be removed.", acl: aclWriteHash,
		keyFlags: []string{"RW", "delete"}, args: []argDoc{keyArg("key"), multiple(strArg("field"))}},
	"hexists": {summary: "Tell whether a hash has a field", since: "2.0.0", group: "hash", complexity: "O(1)",
		acl: aclReadHash, keyFlags: []string{"RO"}, args: []argDoc{keyArg("key"), strArg("field")}},
	"hlen": {summary: "Return the number of fields of a hash, counted on its shard", since: "2.0.0", group: "hash",
		complexity: "O(N) where N is the size of the hash (Redis: O(1))", acl: aclReadHash, keyFlags: []string{"RO"},
		args: []argDoc{keyArg("key")}},
	"hincrby": {summary: "Add a number to the integer a field of a hash holds (a missing field holds 0), with a compare-and-set on the field",
		since: "2.0.0", group: "hash", complexity: "O(1)", acl: aclWriteHash, keyFlags: []string{"RW", "access", "update"},
		args: []argDoc{keyArg("key"), strArg("field"), intArg("increment")}},
	"type": {summary: "Return the type of a key's value: string, hash or none", since: "1.0.0", group: "generic",
		complexity: "O(1)", acl: []string{"@keyspace", "@read", "@fast"}, keyFlags: []string{"RO"},
		args: []argDoc{keyArg("key")}},
}
