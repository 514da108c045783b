package llm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// errLineTooLong is returned for an event-stream line past the limit.
var errLineTooLong = errors.New("llm: upstream event-stream line too long")

// sseScanner reads the events of a server-sent event stream (the WHATWG
// format) and returns each event's data: data lines joined by "\n",
// comments and other fields ignored. Lines and events are bounded.
type sseScanner struct {
	r       *bufio.Reader
	maxLine int
	data    []byte
	hasData bool
}

func newSSEScanner(r io.Reader, maxLine int) *sseScanner {
	return &sseScanner{r: bufio.NewReaderSize(r, 4096), maxLine: maxLine}
}

// next returns the data of the next event with data, valid until the next
// call. At the end of the stream it returns io.EOF; an event cut short by
// the end of the stream is returned first, as browsers do not, because
// some servers omit the last blank line.
func (s *sseScanner) next() ([]byte, error) {
	s.data, s.hasData = s.data[:0], false
	var line []byte
	for {
		line = line[:0]
		for {
			frag, err := s.r.ReadSlice('\n')
			if len(line)+len(frag) > s.maxLine {
				return nil, fmt.Errorf("%w (more than %d bytes)", errLineTooLong, s.maxLine)
			}
			line = append(line, frag...)
			if err == nil {
				break
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err == io.EOF {
				if len(line) > 0 {
					break // a last line without its end
				}
				if s.hasData {
					return s.data, nil
				}
				return nil, io.EOF
			}
			return nil, err
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			if s.hasData {
				return s.data, nil
			}
			continue
		}
		if line[0] == ':' {
			continue // a comment
		}
		field, value, found := bytes.Cut(line, []byte(":"))
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		if string(field) != "data" {
			continue // event, id, retry: not used by the chat API
		}
		if len(s.data)+len(value)+1 > s.maxLine {
			return nil, fmt.Errorf("%w (an event of more than %d bytes)", errLineTooLong, s.maxLine)
		}
		if s.hasData {
			s.data = append(s.data, '\n')
		}
		s.data = append(s.data, value...)
		s.hasData = true
	}
}
