// crash_restore.h: fatal signals for every command, and the terminal given back when the explorer crashes.
#ifndef DDPM_CRASH_RESTORE_H
#define DDPM_CRASH_RESTORE_H

/// Installs, once, handlers for SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS and SIGFPE (every
/// command, at start). A signal sent by another process (`kill -SEGV`: si_code SI_USER) ends
/// the process by the signal's default action, with no crash report: Swift's report took it
/// for a fault of ours ("Bad pointer dereference") and the other threads ran on, the process
/// never exiting. Anything else passes to the handler that was there before (Swift's crash
/// report, or the default action), after the terminal is given back if the explorer holds it.
/// A SIGBUS inside a mapped input file (mapped_inputs.h: it was shortened under us) prints that
/// file's message and exits 1, after the terminal is given back.
void ddpm_fatal_signals_install(void);

/// Saves the terminal's modes (stdin) as the shell has them, installs the handlers above if
/// they are not yet, and makes them restore those modes first, leave the alternate screen and
/// show the cursor, and point stdout at /dev/null (a frame another thread is drawing goes
/// nowhere). Returns 0, or -1 when stdin's modes cannot be read (then the terminal is not
/// restored).
int ddpm_crash_restore_install(void);

/// Stops giving the terminal back (it is the shell's again); the handlers stay.
void ddpm_crash_restore_uninstall(void);

/// Puts the terminal back as the handler does (the shell's modes, the main
/// screen, the cursor, stdout to /dev/null), for an exit that is not a signal: out of memory.
void ddpm_crash_restore_terminal(void);

#endif
