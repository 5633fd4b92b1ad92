package drill

import (
	"encoding/binary"
	"fmt"
	goruntime "runtime"
)

// The engine-socket decoy needs a client that speaks to a unix socket, and
// its busybox image has none (nc and wget speak TCP only). The drill gives
// it the smallest one: a static x86-64 Linux program with no library,
// built here as bytes, that connects to a unix socket, sends its standard
// input, shuts its side down, and copies the answer to standard output
// (enough for HTTP/1.0 requests piped from printf). It is dropped into the
// decoy's writable layer like a tool an intruder brings, so the filesystem
// diff holds it too.
//
// The machine code, assembled from (GNU as, Intel syntax; `as --64`, then
// `ld -static -nostdlib -N`):
//
//	_start: mov eax,41; mov edi,1; mov esi,1; xor edx,edx; syscall   # socket(AF_UNIX, SOCK_STREAM, 0)
//	        test eax,eax; js fail; mov r12d,eax
//	        mov edi,r12d; lea rsi,[rip+addr]; mov edx,110; mov eax,42; syscall   # connect
//	        test eax,eax; jnz fail
//	in:     xor edi,edi; lea rsi,[rip+buf]; mov edx,4096; xor eax,eax; syscall   # read(0)
//	        test rax,rax; jle indone
//	        mov rdx,rax; mov edi,r12d; lea rsi,[rip+buf]; mov eax,1; syscall   # write(sock)
//	        test rax,rax; js fail; jmp in
//	indone: mov edi,r12d; mov esi,1; mov eax,48; syscall                       # shutdown(SHUT_WR)
//	out:    mov edi,r12d; lea rsi,[rip+buf]; mov edx,4096; xor eax,eax; syscall # read(sock)
//	        test rax,rax; jle done
//	        mov rdx,rax; mov edi,1; lea rsi,[rip+buf]; mov eax,1; syscall      # write(1)
//	        jmp out
//	done:   mov eax,60; xor edi,edi; syscall                                   # exit(0)
//	fail:   mov eax,60; mov edi,1; syscall                                     # exit(1)
//	addr:   .word 1; .ascii PATH; .zero to 110 bytes                           # struct sockaddr_un
//	buf:    (4096 bytes after the file's end, in the segment's memory)
var ucatCode = []byte{
	0xb8, 0x29, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0xbe, 0x01,
	0x00, 0x00, 0x00, 0x31, 0xd2, 0x0f, 0x05, 0x85, 0xc0, 0x0f, 0x88, 0x97,
	0x00, 0x00, 0x00, 0x41, 0x89, 0xc4, 0x44, 0x89, 0xe7, 0x48, 0x8d, 0x35,
	0x96, 0x00, 0x00, 0x00, 0xba, 0x6e, 0x00, 0x00, 0x00, 0xb8, 0x2a, 0x00,
	0x00, 0x00, 0x0f, 0x05, 0x85, 0xc0, 0x75, 0x7a, 0x31, 0xff, 0x48, 0x8d,
	0x35, 0xeb, 0x00, 0x00, 0x00, 0xba, 0x00, 0x10, 0x00, 0x00, 0x31, 0xc0,
	0x0f, 0x05, 0x48, 0x85, 0xc0, 0x7e, 0x1b, 0x48, 0x89, 0xc2, 0x44, 0x89,
	0xe7, 0x48, 0x8d, 0x35, 0xd0, 0x00, 0x00, 0x00, 0xb8, 0x01, 0x00, 0x00,
	0x00, 0x0f, 0x05, 0x48, 0x85, 0xc0, 0x78, 0x4a, 0xeb, 0xce, 0x44, 0x89,
	0xe7, 0xbe, 0x01, 0x00, 0x00, 0x00, 0xb8, 0x30, 0x00, 0x00, 0x00, 0x0f,
	0x05, 0x44, 0x89, 0xe7, 0x48, 0x8d, 0x35, 0xa9, 0x00, 0x00, 0x00, 0xba,
	0x00, 0x10, 0x00, 0x00, 0x31, 0xc0, 0x0f, 0x05, 0x48, 0x85, 0xc0, 0x7e,
	0x18, 0x48, 0x89, 0xc2, 0xbf, 0x01, 0x00, 0x00, 0x00, 0x48, 0x8d, 0x35,
	0x8c, 0x00, 0x00, 0x00, 0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb,
	0xd0, 0xb8, 0x3c, 0x00, 0x00, 0x00, 0x31, 0xff, 0x0f, 0x05, 0xb8, 0x3c,
	0x00, 0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x05,
}

const (
	ucatBase     = 0x400000
	ucatHeaders  = 64 + 56 // ELF header and one program header
	ucatAddrSize = 110     // sizeof(struct sockaddr_un) as the code passes it
	ucatBufSize  = 4096
)

// unixClient builds the client for the socket at path, for this machine's
// architecture; other architectures get an error (the decoy then only
// holds the socket and makes no calls).
func unixClient(path string) ([]byte, error) {
	if goruntime.GOARCH != "amd64" {
		return nil, fmt.Errorf("the decoy's socket client is built for amd64 only (this is %s)", goruntime.GOARCH)
	}
	if len(path) == 0 || len(path) > ucatAddrSize-3 {
		return nil, fmt.Errorf("socket path %q: give 1 to %d bytes", path, ucatAddrSize-3)
	}
	addr := make([]byte, ucatAddrSize)
	binary.LittleEndian.PutUint16(addr, 1) // AF_UNIX
	copy(addr[2:], path)
	body := append(append([]byte{}, ucatCode...), addr...)
	size := uint64(ucatHeaders + len(body))
	b := make([]byte, 0, size)
	le := binary.LittleEndian
	// ELF header: 64-bit, little endian, SysV, executable, x86-64.
	b = append(b, 0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	b = le.AppendUint16(b, 2)                    // e_type ET_EXEC
	b = le.AppendUint16(b, 0x3e)                 // e_machine x86-64
	b = le.AppendUint32(b, 1)                    // e_version
	b = le.AppendUint64(b, ucatBase+ucatHeaders) // e_entry: the code follows the headers
	b = le.AppendUint64(b, 64)                   // e_phoff
	b = le.AppendUint64(b, 0)                    // e_shoff: no sections
	b = le.AppendUint32(b, 0)                    // e_flags
	b = le.AppendUint16(b, 64)                   // e_ehsize
	b = le.AppendUint16(b, 56)                   // e_phentsize
	b = le.AppendUint16(b, 1)                    // e_phnum
	b = le.AppendUint16(b, 0)                    // e_shentsize
	b = le.AppendUint16(b, 0)                    // e_shnum
	b = le.AppendUint16(b, 0)                    // e_shstrndx
	// One loadable segment: the whole file, and the buffer after it.
	b = le.AppendUint32(b, 1)                // PT_LOAD
	b = le.AppendUint32(b, 7)                // read, write, execute
	b = le.AppendUint64(b, 0)                // p_offset
	b = le.AppendUint64(b, ucatBase)         // p_vaddr
	b = le.AppendUint64(b, ucatBase)         // p_paddr
	b = le.AppendUint64(b, size)             // p_filesz
	b = le.AppendUint64(b, size+ucatBufSize) // p_memsz
	b = le.AppendUint64(b, 0x1000)           // p_align
	return append(b, body...), nil
}
