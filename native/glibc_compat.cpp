// Binds the glibc functions whose default symbol version is newer than a portable Linux binary may require to
// their oldest version, so that a prebuilt addon loads on older distributions than the one that built it.
//
// The addon links with -Wl,--wrap=<name> for each function below (see CMakeLists.txt), so every call to it from
// the kernels, the dispatcher and the binding lands in __wrap_<name>, which calls the old version. On one glibc
// the old and the new versions compute the same results:
// - exp and log got new versions in glibc 2.29 because the new ones no longer set errno. This code never reads
//   errno after them (it is compiled with -fno-math-errno).
//
// A new call to a function with a newer default version raises the requirement again. Examples are expf, logf
// and powf (GLIBC_2.27), and pow, exp2 and log2 (GLIBC_2.29). scripts/check-glibc-needs.mjs then fails, and the
// function belongs in the list below and in the addon's link options in CMakeLists.txt.
//
// This file is compiled only on Linux with glibc on x86-64 or arm64 (CMakeLists.txt checks for __GLIBC__).
#if defined(__x86_64__)
#define SIMD_NN_GLIBC_BASELINE "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define SIMD_NN_GLIBC_BASELINE "GLIBC_2.17"
#else
#error "glibc_compat.cpp knows the oldest glibc symbol version only for x86-64 and arm64"
#endif

extern "C" {

// Declared under private names: the .symver directives turn each of them into a reference to the old version.
double simd_nn_glibc_exp(double x);
double simd_nn_glibc_log(double x);

__asm__(".symver simd_nn_glibc_exp, exp@" SIMD_NN_GLIBC_BASELINE);
__asm__(".symver simd_nn_glibc_log, log@" SIMD_NN_GLIBC_BASELINE);

double __wrap_exp(double x) { return simd_nn_glibc_exp(x); }
double __wrap_log(double x) { return simd_nn_glibc_log(x); }

}  // extern "C"
