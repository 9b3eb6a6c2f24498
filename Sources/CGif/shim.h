/* shim.h: giflib (Debian's libgif-dev), for animated GIFs of trajectories. */
#include <gif_lib.h>
