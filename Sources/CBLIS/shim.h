// BLIS (Debian's libblis-dev, OpenMP build: libblis.so -> blis-openmp) with its
// CBLAS layer. Declared here rather than through <blis.h>, which needs <omp.h>.
// Also the two CPU helpers Compute needs from C: the AVX-512 check and prefetch.
#include <stdint.h>

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