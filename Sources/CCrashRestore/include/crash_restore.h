// crash_restore.h: give the terminal back when the explorer crashes.
#ifndef DDPM_CRASH_RESTORE_H
#define DDPM_CRASH_RESTORE_H

/// Saves the terminal's modes (stdin) as the shell has them and installs handlers for
/// SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS and SIGFPE that restore those modes, leave
/// the alternate screen and show the cursor, point stdout at /dev/null (a frame another
/// thread is drawing goes nowhere), then pass the signal on to the handler
/// that was there before (Swift's crash report, or the default action). Returns 0, or
/// -1 when stdin's modes cannot be read (then nothing is installed).
int ddpm_crash_restore_install(void);

/// Puts the handlers from before `ddpm_crash_restore_install` back (the terminal is the shell's again).
void ddpm_crash_restore_uninstall(void);

/// Puts the terminal back as the handler does (the shell's modes, the main
/// screen, the cursor, stdout to /dev/null), for an exit that is not a signal: out of memory.
void ddpm_crash_restore_terminal(void);

#endif
