// Package termscan finds every occurrence of a fixed set of terms in a
// text: an Aho-Corasick matcher that reports exactly the occurrences, in
// exactly the order, that github.com/coregx/ahocorasick's
// FindAllOverlapping reports for the same terms (ordered by end and, at
// one end, longest first; duplicate terms in the order given), less
// those of word-start terms (Options.WordStart) that do not start a
// word, appended to a caller's slice without allocating once that slice
// has grown.
//
// The guard's detectors read every byte of every text through it, which
// made coregx's automaton their main cost: its table is numbered in
// insertion order with every used byte its own class (32 MB for the
// injection lexicon, its steps missing the cache), searched in one
// dependent chain of loads, with a new slice of matches per call. Here:
//
//   - The terms are split by the lead byte of their first non-ASCII
//     character into an ASCII automaton, run over every text, and one
//     automaton per script block, run only over texts that contain one of
//     the block's lead bytes. A term is found only in a text that holds
//     all of its bytes, so the gate never skips an occurrence, and an
//     English text pays for the ASCII terms only.
//   - Each automaton is a dense DFA with states numbered breadth-first,
//     so that the shallow states, where prose spends most of its steps,
//     share pages; its alphabet is the bytes its own terms use, a space
//     and the lower-case letters first, so that a step on prose reads
//     the first cache line of a row. Its entries are uint16 state
//     numbers in rows of 64 when it has at most 32,768 states and 64
//     classes (the injection lexicon's ASCII automaton: 18k states,
//     2.2 MB), else premultiplied uint32s.
//   - A text of 32 bytes or more is read in four interleaved lanes, one
//     per quarter, so that four independent table loads are in flight
//     instead of one. A lane starts at its quarter from the start state
//     and finds the occurrences that start there or later; past its
//     quarter it reads on only while its state stands for bytes of the
//     quarter (a state's depth), for the occurrences that start in the
//     quarter and end past it, usually a few bytes. So the text is read
//     about once, where lanes overlapping by the longest term read the
//     injection lexicon's texts 1.27 times.
//   - Terms a caller wants only where they start a word (Options) are
//     looked for at word starts only: inside a word the automaton
//     follows the other terms alone, so that it stays near its start
//     state and reports fewer occurrences for the caller to rule out.
//
// coregx stays as the reference in the tests (termscan_test.go, on the
// development set and in FuzzMatcher). It offers no interleaved or
// allocation-free overlapping search, nor a say in its table's layout.
//
// # Security
//
// A Matcher reads texts of any length and content, valid UTF-8 or not,
// in time linear in the text plus the occurrences reported; it keeps no
// reference to a text. The narrow table's steps read the table and the
// text through unsafe pointers, without bound checks: a state number
// comes from the table (newDFA checks that every entry is one of its
// states) and a class from a [256]uint8, and the lanes' last byte is
// checked before the loop. Its tables are built once from trusted terms; a
// Matcher is safe for concurrent use, a Scratch is not.
package termscan
