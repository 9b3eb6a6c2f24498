// main.swift: the `ddpm` executable.
import Glibc
import TUI

// A file-size limit (ulimit -f) must make a write fail with EFBIG, which is
// reported, instead of killing the process in the middle of a checkpoint.
signal(SIGXFSZ, SIG_IGN)
DDPMCommand.main()
