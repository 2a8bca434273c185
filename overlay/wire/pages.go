package wire

// MaxAddr is the longest host:port a peer may give as where it listens (a
// DNS name is at most 253 bytes). A supernode lists others' addresses in
// pages, and one address over a page's bytes would make every page that
// holds it too big to send.
const MaxAddr = 300

// pageBytes bounds the encoded size of one page's elements, leaving room
// under MaxFrame for the message around them.
const pageBytes = MaxFrame / 2

// Pages splits list into pages that each fit one message: at most MaxList
// elements, and elements whose sizes (as size estimates them, encoded) add
// up to at most pageBytes, except that a page holds at least one element.
// An empty list gives no pages.
func Pages[T any](list []T, size func(T) int) [][]T {
	var pages [][]T
	for len(list) > 0 {
		n, bytes := 0, 0
		for n < len(list) && n < MaxList {
			bytes += size(list[n])
			if n > 0 && bytes > pageBytes {
				break
			}
			n++
		}
		pages = append(pages, list[:n:n])
		list = list[n:]
	}
	return pages
}

// SupernodeSize estimates a Supernode's encoded size, for Pages.
func SupernodeSize(s Supernode) int { return len(s.ID) + len(s.Addr) + 12 }

// KeySize estimates a key's encoded size in a list, for Pages.
func KeySize(k []byte) int { return len(k) + 3 }
