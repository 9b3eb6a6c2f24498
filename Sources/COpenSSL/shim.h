/* shim.h: OpenSSL's libcrypto, for SHA-256 of model files (a recording names the model it came from). */
#include <openssl/evp.h>
