// Package ftp serves files stored in the cluster over FTP, so any FTP client
// (curl, lftp, a file manager) can put, fetch and list them.
//
// The protocol is goftp.io/server/v2; this package supplies its driver (the
// file system on top of the kv service) and replaces the transfer and
// mutation commands so that failures get precise replies: 552 past the size
// limit, 450/451 with a clear text when the cluster is unavailable, timed out
// or cannot confirm a write, 426 when the data connection breaks.
//
// # Storage layout
//
// Everything lives in one strong namespace (default "files"). Paths are
// cleaned, rooted ("/a/b.txt") and never contain "//", which the key scheme
// relies on. Three key spaces keep the kinds apart so that listings never
// wade through file data:
//
//	m<dir>//<name>          manifest of the file <dir>/<name>   (JSON)
//	d<dir>//<name>          marker of the directory <dir>/<name> (JSON)
//	c<gen>/<index>          chunk <index> (8 hex digits) of upload <gen>
//
// where <dir> is the parent directory without its trailing slash ("" for the
// root): /a.txt is m//a.txt, /docs/a.txt is m/docs//a.txt. The direct
// children of a directory are therefore exactly the keys that start with
// m<dir>// and d<dir>//, one prefix scan each, however deep the tree below.
//
// A manifest records the size, the chunk size and count, the SHA-256 of the
// content, the modification time and the upload's generation: 16 random-ish
// bytes in hex whose first 8 are the upload's start time in Unix nanoseconds
// (so a sweep can tell an old orphan from an upload in progress). Chunk keys
// contain the generation, not the path, so a new upload never overwrites the
// chunks the current manifest points to, and a rename moves only the
// manifest.
//
// # Writes
//
// An upload streams the client's bytes into chunks of a fresh generation,
// hashing as it goes, then writes the manifest with a compare-and-set on the
// version of the manifest it replaces (the atomic switch), then deletes the
// replaced generation's chunks (best effort, logged). A reader that started
// on the old generation fails cleanly when its chunks vanish; it never mixes
// two uploads. An upload that fails before the switch — the data connection
// breaks, the size limit is passed, the cluster refuses a chunk — deletes the
// chunks it wrote and leaves the old file untouched. Concurrent uploads of
// one path are last-writer-wins; APPE and REST+STOR, which build on the old
// content, fail with 450 instead of losing the other writer's data.
//
// FTP's stream mode has no end-of-file marker other than closing the data
// connection, so a client that closes it cleanly part way through has, as
// far as the protocol says, sent a shorter file; only a reset connection or
// a server-side failure can be told apart from a complete upload.
//
// A rename writes the manifest under the new path (compare-and-set on the
// destination), then deletes the old manifest (compare-and-set on the version
// it copied); if the source changed meanwhile, the destination is restored
// and the client gets 450. For that instant both manifests share one
// generation. Directories are not renamed (550).
//
// Directories exist through their markers (the root always exists). MKD and
// STOR require the parent to exist; RMD removes only an empty directory.
// If an RMD races an upload into the directory, the upload re-creates the
// missing markers after its switch, so a file is never left invisible.
//
// # Cleanup
//
// Whatever a crash leaves behind is collected by a sweep run once per
// start, in the background, when the namespace is first used: chunks of a generation no manifest names and
// older than a day are deleted, and two manifests sharing a generation (a
// rename cut short) are separated by copying the chunks of one of them.
// Writes whose outcome the cluster cannot confirm never trigger a deletion
// of the chunks they might point to; their leftovers are the sweep's too.
//
// The kv service's own change events (one per key) still fire for every
// chunk and manifest; Config.OnChange reports changes per path instead.
package ftp
