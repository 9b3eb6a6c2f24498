// BLIS (Debian's libblis-dev, OpenMP build: libblis.so -> blis-openmp) with its
// CBLAS layer. Declared here rather than through <blis.h>, which needs <omp.h>.
// Also the two CPU helpers Compute needs from C: the AVX-512 check and prefetch.
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>

enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112, CblasConjTrans = 113 };

void cblas_sgemm(enum CBLAS_ORDER Order, enum CBLAS_TRANSPOSE TransA, enum CBLAS_TRANSPOSE TransB,
                 int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc);
void cblas_dgemm(enum CBLAS_ORDER Order, enum CBLAS_TRANSPOSE TransA, enum CBLAS_TRANSPOSE TransB,
                 int M, int N, int K, double alpha, const double *A, int lda,
                 const double *B, int ldb, double beta, double *C, int ldc);
void bli_thread_set_num_threads(int64_t n);
int64_t bli_thread_get_num_threads(void);

// Whether the CPU and OS support the AVX-512 (F, BW, DQ, VL) instructions the
// wide convolution kernel (target Kernels512) is compiled for.
static inline int ddpm_cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

// Asks for the cache line at p ahead of its use (prefetcht0).
static inline void ddpm_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

// BLIS 0.9's small-matrix ("sup") kernels for Haswell/Zen read past the end of
// their operands on some shapes (flame/blis issues #635 and #821, the latter
// fixed in 2024 after 1.0): on an AVX2 CPU a training step's weight-gradient
// GEMMs crashed in bli_sgemmsup_rd_haswell_asm_1x16n. Raising the sup
// thresholds to 1 in the global context sends every product through BLIS's
// packed path, which packs edges with zeros and reads nothing past them.
// Looked up at run time: a BLIS without these 0.x functions still loads, and
// one that is not 0.x is left as it is.
static inline void ddpm_blis_disable_sup(void) {
    typedef struct { int64_t v[4]; int64_t e[4]; } blksz;  // blksz_t: dim_t is int64_t in Debian's build
    char *(*version)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "bli_info_get_version_str");
    void *(*context)(void) = (void *(*)(void))dlsym(RTLD_DEFAULT, "bli_gks_query_cntx");
    void (*set)(int64_t, ...) = (void (*)(int64_t, ...))dlsym(RTLD_DEFAULT, "bli_cntx_set_l3_sup_thresh");
    if (!version || !context || !set || strncmp(version(), "0.", 2) != 0) return;
    blksz one = {{1, 1, 1, 1}, {1, 1, 1, 1}};
    set(3, 0 /* BLIS_MT */, &one, 1 /* BLIS_NT */, &one, 2 /* BLIS_KT */, &one, context());
}
