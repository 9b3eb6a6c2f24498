// crash_restore.c: every command's handler of fatal signals, which also gives the terminal
// back while the explorer holds it. In C, with static storage only, because it runs inside
// a signal handler: tcsetattr, write, dup2, sigaction, raise, _exit and strlen are async-signal-safe;
// nothing here allocates or takes a lock.
#include "crash_restore.h"
#include "mapped_inputs.h"
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

// (SIGSYS: a seccomp filter's refusal, or `kill -SYS`; it left the terminal on the explorer's screen.)
static const int signals[] = { SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGQUIT, SIGSYS };
enum { count = sizeof signals / sizeof signals[0] };
static struct termios shell_modes;
static struct sigaction previous[count];
/// Whether the handlers are installed (once, by ddpm_fatal_signals_install).
static volatile sig_atomic_t handling = 0;
/// Whether the explorer holds the terminal: the handler gives it back first.
static volatile sig_atomic_t installed = 0;
/// /dev/null, opened at install: once the terminal is given back, stdout points here, so
/// a frame another thread is still drawing (the crash report takes a while) does not land
/// on the shell's screen.
static int quiet = -1;
/// Leave the alternate screen, show the cursor, reset colours, cursor keys and keypad to
/// their normal modes (ncurses' keypad() had set them), start a fresh line.
static const char reset[] = "\033[?1049l\033[?25h\033[0m\033[?1l\033>\033[?2004l\r\n";

/// The shell's modes, the main screen and the cursor back; later writes to stdout go nowhere.
static void give_back(void) {
    (void)tcsetattr(STDIN_FILENO, TCSANOW, &shell_modes);
    (void)!write(STDOUT_FILENO, reset, sizeof reset - 1);
    if (quiet >= 0) (void)dup2(quiet, STDOUT_FILENO);
}

static int slot(int sig) {
    for (int i = 0; i < count; i++) if (signals[i] == sig) return i;
    return -1;
}

static void handler(int sig, siginfo_t *info, void *context) {
    int i = slot(sig);
    if (installed) give_back();
    if (i < 0) return;
    // A mapped input that shrank under us (another program truncated or rewrote it): not a fault
    // of ours, and no crash report; one line and exit 1, as for any unreadable input.
    if (sig == SIGBUS && info != NULL && info->si_code == BUS_ADRERR) {
        const char *message = ddpm_mapped_input_at(info->si_addr);
        if (message != NULL) {
            (void)!write(STDERR_FILENO, message, strlen(message));
            _exit(1);
        }
    }
    struct sigaction before = previous[i];
    (void)sigaction(sig, &before, NULL);
    // Sent by another process (`kill -SEGV`): not a fault of ours, so no crash report. Swift's
    // report is interactive on a terminal and let the other threads run on, 200% CPU, no exit.
    // Nor is SIGQUIT, however it comes (Ctrl-\ on the terminal, kill -QUIT): a request to quit,
    // which Swift's report took for a crash and then ran on, writing its output and exiting 0.
    // Die of the signal: blocked while this handler runs, it arrives on return.
    if (sig == SIGQUIT || (info != NULL && info->si_code == SI_USER && info->si_pid != getpid())) {
        struct sigaction plain;
        memset(&plain, 0, sizeof plain);
        plain.sa_handler = SIG_DFL;
        (void)sigaction(sig, &plain, NULL);
        (void)raise(sig);
        return;
    }
    // The handler before runs now, as it would have (Swift's backtracer reads info and context).
    if ((before.sa_flags & SA_SIGINFO) && before.sa_sigaction) { before.sa_sigaction(sig, info, context); return; }
    if (!(before.sa_flags & SA_SIGINFO) && before.sa_handler != SIG_DFL && before.sa_handler != SIG_IGN) {
        before.sa_handler(sig);
        return;
    }
    // The default action: a fault (si_code > 0) happens again on return; a signal that was
    // sent (kill, raise, abort: si_code <= 0) is sent again, and arrives on return. So is a
    // seccomp filter's SIGSYS, whose system call does not run again on return.
    if (info == NULL || info->si_code <= 0 || sig == SIGSYS) (void)raise(sig);
}

void ddpm_fatal_signals_install(void) {
    if (handling) return;
    for (int i = 0; i < count; i++) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_sigaction = handler;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_SIGINFO | SA_ONSTACK;
        (void)sigaction(signals[i], &action, &previous[i]);
    }
    handling = 1;
}

int ddpm_crash_restore_install(void) {
    if (installed) return 0;
    if (tcgetattr(STDIN_FILENO, &shell_modes) != 0) return -1;
    if (quiet < 0) quiet = open("/dev/null", O_WRONLY | O_CLOEXEC);
    ddpm_fatal_signals_install();
    installed = 1;
    return 0;
}

void ddpm_crash_restore_uninstall(void) {
    installed = 0;
}

void ddpm_crash_restore_terminal(void) {
    if (!installed) return;
    give_back();
}
