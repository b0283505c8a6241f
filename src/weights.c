/*
 * weights.c - the `.nne` container (see weights.h and docs/MODEL_FORMAT.md).
 *
 * DESIGN
 * All integers are little-endian and decoded byte by byte, so the reader never trusts a raw
 * struct (the llama2.c trap). Validation order: preamble magic/version/endianness/CRC ->
 * section bounds against the real file size -> JSON header CRC -> tensor table entries, each
 * bounded by the table section -> every tensor's data range inside the data section,
 * 64-byte aligned, size equal to its shape -> optional per-tensor CRC32. Only then are data
 * pointers handed out. Tensor data stay in the read-only mapping (never copied).
 */
#include "weights.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "alloc.h"
#include "bytes.h"

#define MAX_TENSORS 65536
#define ENDIAN_TAG 0x01020304u

uint32_t nne_crc32(const void *buf, size_t len) {
    const unsigned char *p = buf;
    uLong c = crc32(0L, Z_NULL, 0);
    while (len > 0) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        c = crc32(c, p, n);
        p += n;
        len -= n;
    }
    return (uint32_t)c;
}

/* Fuzz builds skip checksum comparisons so mutated inputs reach the deeper validation; every
 * structural check still runs. Never defined in normal builds. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define CRC_MISMATCH(stored, computed) ((void)(stored), (void)(computed), 0)
#else
#define CRC_MISMATCH(stored, computed) ((stored) != (computed))
#endif

static int host_is_le(void) {
    const uint32_t x = 1;
    return *(const unsigned char *)&x == 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Writer                                                                                    */
/* ---------------------------------------------------------------------------------------- */

static int write_all(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : -1; }

static int write_zeros(FILE *f, size_t n) {
    static const unsigned char z[64];
    while (n > 0) {
        size_t k = n > sizeof z ? sizeof z : n;
        if (write_all(f, z, k)) return -1;
        n -= k;
    }
    return 0;
}

nne_status nne_weights_write(nne_ctx *ctx, const char *path, const char *header_json,
                             const nne_wtensor *tensors, int n) {
    if (!host_is_le())
        return nne_fail(ctx, NNE_ERR_UNSUPPORTED, "%s: writing on big-endian hosts", path);
    if (n < 0 || n > MAX_TENSORS) return nne_fail(ctx, NNE_ERR_ARG, "%s: bad tensor count", path);
    nne_status st = NNE_OK;
    unsigned char *table = NULL;
    uint64_t *offsets = NULL;
    FILE *f = NULL;
    char *tmp = NULL;
    int fd = -1;

    /* Lay out the table and the data section. */
    size_t table_len = 0;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(tensors[i].name);
        if (nl == 0 || nl > 255 || tensors[i].ndim < 0 || tensors[i].ndim > NNE_WEIGHTS_MAX_DIM)
            return nne_fail(ctx, NNE_ERR_ARG, "%s: bad tensor '%s'", path, tensors[i].name);
        table_len += 2 + nl + 2 + 8 * (size_t)tensors[i].ndim + 8 + 8 + 4;
    }
    table = malloc(table_len ? table_len : 1);
    offsets = malloc(sizeof *offsets * (size_t)(n ? n : 1));
    if (!table || !offsets) {
        st = nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
        goto fail;
    }
    size_t hlen = strlen(header_json);
    uint64_t table_off = NNE_WEIGHTS_PREAMBLE + hlen;
    uint64_t data_off = nne_align_up((size_t)(table_off + table_len));
    uint64_t cur = 0;
    unsigned char *tp = table;
    for (int i = 0; i < n; i++) {
        const nne_wtensor *t = &tensors[i];
        int64_t ne = 1;
        for (int d = 0; d < t->ndim; d++)
            if (t->shape[d] < 0 || nne_mul_i64(ne, t->shape[d], &ne)) {
                st = nne_fail(ctx, NNE_ERR_ARG, "%s: bad shape of '%s'", path, t->name);
                goto fail;
            }
        uint64_t nbytes = (uint64_t)ne * sizeof(float);
        size_t nl = strlen(t->name);
        nne_st_u16le(tp, (uint16_t)nl);
        memcpy(tp + 2, t->name, nl);
        tp += 2 + nl;
        tp[0] = NNE_WEIGHTS_DTYPE_F32;
        tp[1] = (unsigned char)t->ndim;
        tp += 2;
        for (int d = 0; d < t->ndim; d++, tp += 8) nne_st_u64le(tp, (uint64_t)t->shape[d]);
        offsets[i] = cur;
        nne_st_u64le(tp, cur);
        nne_st_u64le(tp + 8, nbytes);
        nne_st_u32le(tp + 16, nne_crc32(t->data, (size_t)nbytes));
        tp += 20;
        cur = nne_align_up((size_t)(cur + nbytes));
    }
    uint64_t data_len = cur;
    uint64_t file_size = data_off + data_len;

    unsigned char pre[NNE_WEIGHTS_PREAMBLE];
    memset(pre, 0, sizeof pre);
    memcpy(pre, NNE_WEIGHTS_MAGIC, 8);
    nne_st_u32le(pre + 8, NNE_WEIGHTS_VERSION);
    nne_st_u32le(pre + 12, ENDIAN_TAG);
    nne_st_u64le(pre + 16, file_size);
    nne_st_u64le(pre + 24, NNE_WEIGHTS_PREAMBLE);
    nne_st_u64le(pre + 32, hlen);
    nne_st_u64le(pre + 40, table_off);
    nne_st_u64le(pre + 48, table_len);
    nne_st_u64le(pre + 56, (uint64_t)n);
    nne_st_u64le(pre + 64, data_off);
    nne_st_u64le(pre + 72, data_len);
    nne_st_u32le(pre + 80, nne_crc32(header_json, hlen));
    nne_st_u32le(pre + 84, nne_crc32(table, table_len));
    nne_st_u32le(pre + 88, nne_crc32(pre, 88));

    /* Temporary file next to the destination, renamed into place at the end. */
    size_t pl = strlen(path);
    tmp = malloc(pl + 16);
    if (!tmp) {
        st = nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
        goto fail;
    }
    snprintf(tmp, pl + 16, "%s.tmp.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        st = nne_fail(ctx, NNE_ERR_IO, "%s: cannot create temporary file: %s", path,
                      strerror(errno));
        free(tmp);
        tmp = NULL;
        goto fail;
    }
    f = fdopen(fd, "wb");
    if (!f) {
        st = nne_fail(ctx, NNE_ERR_IO, "%s: %s", tmp, strerror(errno));
        close(fd);
        goto fail;
    }
    if (write_all(f, pre, sizeof pre) || write_all(f, header_json, hlen) ||
        write_all(f, table, table_len) || write_zeros(f, (size_t)(data_off - table_off - table_len)))
        goto write_error;
    cur = 0;
    for (int i = 0; i < n; i++) {
        int64_t ne = 1;
        for (int d = 0; d < tensors[i].ndim; d++) ne *= tensors[i].shape[d];
        size_t nb = (size_t)ne * sizeof(float);
        if (write_zeros(f, (size_t)(offsets[i] - cur)) || write_all(f, tensors[i].data, nb))
            goto write_error;
        cur = offsets[i] + nb;
    }
    if (write_zeros(f, (size_t)(data_len - cur))) goto write_error;
    if (fflush(f) || fsync(fileno(f))) goto write_error;
    if (fclose(f)) {
        f = NULL;
        goto write_error;
    }
    f = NULL;
    if (chmod(tmp, 0644) != 0 || rename(tmp, path) != 0) {
        st = nne_fail(ctx, NNE_ERR_IO, "%s: cannot rename temporary file: %s", path,
                      strerror(errno));
        goto fail;
    }
    free(tmp);
    free(table);
    free(offsets);
    return NNE_OK;
write_error:
    st = nne_fail(ctx, NNE_ERR_IO, "%s: write failed: %s", path, strerror(errno));
fail:
    if (f) fclose(f);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(table);
    free(offsets);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Reader                                                                                    */
/* ---------------------------------------------------------------------------------------- */

void nne_weights_close(nne_wfile *f) {
    if (!f) return;
    for (int i = 0; i < f->n_entries; i++) free(f->entries[i].name);
    free(f->entries);
    free(f->header);
    if (f->map) munmap(f->map, f->map_size);
    free(f);
}

void nne_weights_release(const nne_wfile *f, const void *p, size_t n) {
    if (!f || !f->map || !p || n == 0) return;
    const uintptr_t lo = (uintptr_t)f->map, hi = lo + f->map_size;
    const uintptr_t a = (uintptr_t)p, b = a + n;
    if (a < lo || b > hi) return;
    const long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) return;
    const uintptr_t ps = (uintptr_t)page;
    const uintptr_t start = (a + ps - 1) / ps * ps, end = b / ps * ps; /* whole pages inside */
    if (end > start) (void)madvise((void *)start, end - start, MADV_DONTNEED);
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Validates `buf` (len bytes) and fills `f` (entries, header). */
static nne_status parse(nne_ctx *ctx, const unsigned char *buf, size_t len, const char *label,
                        int verify_crc, nne_wfile *f) {
#define BAD(...) return nne_fail(ctx, NNE_ERR_FORMAT, __VA_ARGS__)
    if (len < NNE_WEIGHTS_PREAMBLE)
        BAD("%s: %zu bytes is too short for an nnedge model file", label, len);
    if (memcmp(buf, NNE_WEIGHTS_MAGIC, 8) != 0) BAD("%s: not an nnedge model file (bad magic)", label);
    uint32_t version = nne_ld_u32le(buf + 8);
    if (nne_ld_u32le(buf + 12) != ENDIAN_TAG) BAD("%s: bad endianness tag", label);
    if (CRC_MISMATCH(nne_ld_u32le(buf + 88), nne_crc32(buf, 88))) {
        nne_fail(ctx, NNE_ERR_CHECKSUM, "%s: preamble checksum mismatch (file corrupted)", label);
        return NNE_ERR_CHECKSUM;
    }
    if (version != NNE_WEIGHTS_VERSION)
        return nne_fail(ctx, NNE_ERR_UNSUPPORTED, "%s: format version %u (this build reads %u)",
                        label, version, NNE_WEIGHTS_VERSION);
    if (!host_is_le())
        return nne_fail(ctx, NNE_ERR_UNSUPPORTED, "%s: big-endian hosts are not supported", label);
    uint64_t file_size = nne_ld_u64le(buf + 16), h_off = nne_ld_u64le(buf + 24), h_len = nne_ld_u64le(buf + 32);
    uint64_t t_off = nne_ld_u64le(buf + 40), t_len = nne_ld_u64le(buf + 48), n_t = nne_ld_u64le(buf + 56);
    uint64_t d_off = nne_ld_u64le(buf + 64), d_len = nne_ld_u64le(buf + 72);
    if (file_size != len)
        BAD("%s: header says %llu bytes but the file has %zu (truncated or padded)", label,
            (unsigned long long)file_size, len);
    if (h_off != NNE_WEIGHTS_PREAMBLE || h_len > len - h_off) BAD("%s: header section out of bounds", label);
    if (t_off != h_off + h_len || t_len > len - t_off) BAD("%s: tensor table out of bounds", label);
    if (d_off % NNE_ALIGN || d_off < t_off + t_len || d_off > len || d_len != len - d_off)
        BAD("%s: data section out of bounds", label);
    if (n_t > MAX_TENSORS) BAD("%s: %llu tensors exceed the limit", label, (unsigned long long)n_t);
    if (CRC_MISMATCH(nne_ld_u32le(buf + 80), nne_crc32(buf + h_off, (size_t)h_len)))
        return nne_fail(ctx, NNE_ERR_CHECKSUM, "%s: JSON header checksum mismatch", label);
    if (CRC_MISMATCH(nne_ld_u32le(buf + 84), nne_crc32(buf + t_off, (size_t)t_len)))
        return nne_fail(ctx, NNE_ERR_CHECKSUM, "%s: tensor table checksum mismatch", label);

    f->header = malloc((size_t)h_len + 1);
    f->entries = calloc((size_t)(n_t ? n_t : 1), sizeof *f->entries);
    if (!f->header || !f->entries) return nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
    memcpy(f->header, buf + h_off, (size_t)h_len);
    f->header[h_len] = '\0';
    if (memchr(f->header, '\0', (size_t)h_len)) BAD("%s: NUL byte inside the JSON header", label);
    f->header_len = (size_t)h_len;

    const unsigned char *p = buf + t_off, *end = buf + t_off + t_len;
    const unsigned char *data = buf + d_off;
    for (uint64_t i = 0; i < n_t; i++) {
        nne_wentry *e = &f->entries[i];
        if (end - p < 2) BAD("%s: tensor table truncated at entry %llu", label, (unsigned long long)i);
        size_t nl = nne_ld_u16le(p);
        p += 2;
        if (nl == 0 || nl > 255 || (size_t)(end - p) < nl + 2)
            BAD("%s: bad name length in tensor entry %llu", label, (unsigned long long)i);
        e->name = malloc(nl + 1);
        if (!e->name) return nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
        memcpy(e->name, p, nl);
        e->name[nl] = '\0';
        f->n_entries = (int)i + 1;
        if (memchr(e->name, '\0', nl)) BAD("%s: NUL in tensor name (entry %llu)", label, (unsigned long long)i);
        p += nl;
        int dtype = p[0], ndim = p[1];
        p += 2;
        if (dtype != NNE_WEIGHTS_DTYPE_F32)
            return nne_fail(ctx, NNE_ERR_UNSUPPORTED, "%s: tensor '%s' has unknown dtype %d",
                            label, e->name, dtype);
        if (ndim > NNE_WEIGHTS_MAX_DIM || (size_t)(end - p) < 8 * (size_t)ndim + 20)
            BAD("%s: tensor '%s': bad rank or truncated entry", label, e->name);
        e->ndim = ndim;
        int64_t ne = 1;
        for (int d = 0; d < ndim; d++, p += 8) {
            uint64_t v = nne_ld_u64le(p);
            if (v > (uint64_t)INT64_MAX || nne_mul_i64(ne, (int64_t)v, &ne))
                BAD("%s: tensor '%s': dimension overflow", label, e->name);
            e->shape[d] = (int64_t)v;
        }
        e->nelem = ne;
        uint64_t off = nne_ld_u64le(p), nbytes = nne_ld_u64le(p + 8);
        e->crc32 = nne_ld_u32le(p + 16);
        p += 20;
        if ((uint64_t)ne > UINT64_MAX / 4 || nbytes != (uint64_t)ne * 4)
            BAD("%s: tensor '%s': %llu bytes do not match its shape", label, e->name,
                (unsigned long long)nbytes);
        if (off % NNE_ALIGN || off > d_len || nbytes > d_len - off)
            BAD("%s: tensor '%s' lies beyond the end of the file", label, e->name);
        e->data = (const float *)(const void *)(data + off);
        if (verify_crc && CRC_MISMATCH(e->crc32, nne_crc32(data + off, (size_t)nbytes)))
            return nne_fail(ctx, NNE_ERR_CHECKSUM, "%s: tensor '%s' checksum mismatch (corrupted)",
                            label, e->name);
    }
    if (p != end) BAD("%s: %td unexpected bytes after the tensor table", label, end - p);
    /* Duplicate names: sort a copy of the name pointers (O(n log n) even on hostile input). */
    if (f->n_entries > 1) {
        const char **names = malloc(sizeof *names * (size_t)f->n_entries);
        if (!names) return nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
        for (int i = 0; i < f->n_entries; i++) names[i] = f->entries[i].name;
        qsort(names, (size_t)f->n_entries, sizeof *names, cmp_names);
        for (int i = 1; i < f->n_entries; i++) {
            if (!strcmp(names[i], names[i - 1])) {
                nne_status st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: duplicate tensor '%s'", label,
                                         names[i]);
                free(names);
                return st;
            }
        }
        free(names);
    }
    return NNE_OK;
#undef BAD
}

nne_status nne_weights_open_mem(nne_ctx *ctx, const void *buf, size_t len, const char *label,
                                int verify_crc, nne_wfile **out) {
    nne_wfile *f = calloc(1, sizeof *f);
    if (!f) return nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
    nne_status st = parse(ctx, buf, len, label, verify_crc, f);
    if (st != NNE_OK) {
        nne_weights_close(f);
        return st;
    }
    *out = f;
    return NNE_OK;
}

nne_status nne_weights_open(nne_ctx *ctx, const char *path, int verify_crc, nne_wfile **out) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return nne_fail(ctx, NNE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return nne_fail(ctx, NNE_ERR_IO, "%s: not a regular file", path);
    }
    size_t len = (size_t)sb.st_size;
    if (len < NNE_WEIGHTS_PREAMBLE) {
        close(fd);
        return nne_fail(ctx, NNE_ERR_FORMAT, "%s: %zu bytes is too short for an nnedge model file",
                        path, len);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return nne_fail(ctx, NNE_ERR_IO, "%s: mmap: %s", path, strerror(errno));
    nne_wfile *f = calloc(1, sizeof *f);
    if (!f) {
        munmap(map, len);
        return nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
    }
    f->map = map;
    f->map_size = len;
    nne_status st = parse(ctx, map, len, path, verify_crc, f);
    if (st != NNE_OK) {
        nne_weights_close(f);
        return st;
    }
    *out = f;
    return NNE_OK;
}

const nne_wentry *nne_weights_find(const nne_wfile *f, const char *name) {
    for (int i = 0; i < f->n_entries; i++)
        if (!strcmp(f->entries[i].name, name)) return &f->entries[i];
    return NULL;
}
