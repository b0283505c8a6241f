/*
 * cpu.c - CPU feature detection and the one-time choice of the kernel table (see cpu.h).
 *
 * x86-64: AVX2 + FMA (and F16C, used by later precision modes) through
 * __builtin_cpu_supports at run time, so one binary runs on every x86-64 CPU.
 * AArch64: NEON is architectural baseline, so the NEON table is always usable.
 */
#include "cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

/* AVX2, FMA and F16C (the binary16 conversions; CPUID leaf 1, ECX bit 29). */
static int have_avx2(void) {
#if defined(__x86_64__) && !defined(NNE_ISA_REF_ONLY)
    __builtin_cpu_init();
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 29))) return 0;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

int nne_cpu_available(const nne_kernels **tables, int max) {
    int n = 0;
    if (n < max) tables[n++] = &nne_kernels_ref;
#if defined(__x86_64__) && !defined(NNE_ISA_REF_ONLY)
    if (have_avx2() && n < max) tables[n++] = &nne_kernels_avx2;
#endif
#if defined(__aarch64__) && !defined(NNE_ISA_REF_ONLY)
    if (n < max) tables[n++] = &nne_kernels_neon;
#endif
    return n;
}

nne_status nne_cpu_select(const char *isa, const nne_kernels **out) {
    if (!isa || !strcmp(isa, "auto")) {
        const char *env = getenv("NNE_ISA");
        isa = (env && *env && strcmp(env, "auto") != 0) ? env : NULL;
    }
    const nne_kernels *tabs[4];
    int n = nne_cpu_available(tabs, 4);
    if (!isa) {
        *out = tabs[n - 1]; /* the last available is the most capable */
        return NNE_OK;
    }
    for (int i = 0; i < n; i++) {
        if (!strcmp(tabs[i]->name, isa)) {
            *out = tabs[i];
            return NNE_OK;
        }
    }
    return NNE_ERR_ARG;
}

const char *nne_cpu_describe(void) {
    static char desc[256];
    if (desc[0]) return desc;
    char model[160] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (!strncmp(line, "model name", 10) || !strncmp(line, "CPU part", 8)) {
                char *c = strchr(line, ':');
                if (c) {
                    c++;
                    while (*c == ' ' || *c == '\t') c++;
                    size_t l = strcspn(c, "\n");
                    if (l >= sizeof model) l = sizeof model - 1;
                    memcpy(model, c, l);
                    model[l] = '\0';
                }
                break;
            }
        }
        fclose(f);
    }
    snprintf(desc, sizeof desc, "%s%s", model, have_avx2() ? " (avx2+fma)" : "");
    return desc;
}
