// ncurses with wide characters, plus static inline wrappers for the macros
// Swift cannot import.
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#include <locale.h>
#include <wchar.h>
#include <ncursesw/curses.h>

static inline int cn_lines(void) { return LINES; }
static inline int cn_cols(void) { return COLS; }
static inline int cn_colors(void) { return COLORS; }
static inline int cn_color_pairs(void) { return COLOR_PAIRS; }
static inline void cn_getmaxyx(WINDOW *w, int *y, int *x) { int yy, xx; getmaxyx(w, yy, xx); *y = yy; *x = xx; }
static inline WINDOW *cn_stdscr(void) { return stdscr; }
static inline attr_t cn_a_bold(void) { return A_BOLD; }
static inline attr_t cn_a_reverse(void) { return A_REVERSE; }
static inline attr_t cn_a_normal(void) { return A_NORMAL; }
static inline attr_t cn_a_dim(void) { return A_DIM; }
static inline int cn_key_resize(void) { return KEY_RESIZE; }
static inline int cn_key_left(void) { return KEY_LEFT; }
static inline int cn_key_right(void) { return KEY_RIGHT; }
static inline int cn_key_up(void) { return KEY_UP; }
static inline int cn_key_down(void) { return KEY_DOWN; }
static inline int cn_key_sleft(void) { return KEY_SLEFT; }
static inline int cn_key_sright(void) { return KEY_SRIGHT; }
static inline int cn_err(void) { return ERR; }
/// Draws one wide character with an extended colour pair (ncurses 6).
static inline int cn_put(int y, int x, const wchar_t *ch, attr_t attr, int pair) {
    cchar_t c;
    setcchar(&c, ch, attr, 0, &pair);
    return mvadd_wch(y, x, &c);
}
static inline int cn_key_code_yes(void) { return KEY_CODE_YES; }
static inline int cn_key_ppage(void) { return KEY_PPAGE; }
static inline int cn_key_npage(void) { return KEY_NPAGE; }
static inline int cn_key_home(void) { return KEY_HOME; }
static inline int cn_key_backspace(void) { return KEY_BACKSPACE; }
static inline int cn_key_enter(void) { return KEY_ENTER; }
static inline int cn_key_end(void) { return KEY_END; }
static inline int cn_key_mouse(void) { return KEY_MOUSE; }
