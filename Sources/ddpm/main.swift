// main.swift: the `ddpm` executable.
import Foundation
import Glibc
import TUI

// A file-size limit (ulimit -f) must make a write fail with EFBIG, which is
// reported, instead of killing the process in the middle of a checkpoint.
signal(SIGXFSZ, SIG_IGN)
// A closed pipe on stdout (`ddpm ... | head`) must not kill the process in the
// middle of a checkpoint: writes fail instead (training saves and stops; other
// commands end as the signal would, 141: exitCheckingStdout).
signal(SIGPIPE, SIG_IGN)
// A fatal signal sent by another process (`kill -SEGV`) ends the program by that signal.
installFatalSignalHandlers()
// ArgumentParser's time grows with the square of the arguments (8000 took 19 s): no command needs 1000.
if CommandLine.arguments.count > 1001 {
    fputs("Error: \(CommandLine.arguments.count - 1) arguments; ddpm takes at most 1000\n", stderr)
    exit(64)
}
if let said = DDPMCommand.unknownCommand(Array(CommandLine.arguments.dropFirst())) {
    fputs(said + "\n", stderr)
    exit(64)
}
runCommandLine()
