/*
 * import.c - nnU-Net v2 results folder (or plans + random init) -> `.nne` model file.
 *
 * DESIGN
 * 1. plans.json + dataset.json -> resolved configuration -> architecture (src/plans.c), which
 *    refuses anything but a 3-D PlainConvUNet by name.
 * 2. Per fold, fold_X/checkpoint_<which>.pth is read by the restricted unpickler (src/pth.c).
 *    Its network_weights are matched against the canonical parameter list: every expected
 *    tensor present with its exact shape; the duplicate entries PyTorch's state_dict emits
 *    (`...all_modules.K...` = conv/norm, `decoder.encoder.*` = encoder) must be bitwise equal
 *    to their primaries; any other key is refused, as nnU-Net's strict load_state_dict does.
 * 3. The JSON header keeps what the pipeline needs: plans with the resolved configuration,
 *    dataset.json, folds (checkpoint, SHA-256, trainer, epoch), mirroring axes.
 * 4. The file is written atomically (src/weights.c).
 * ref: nnunetv2/inference/predict_from_raw_data.py initialize_from_trained_model_folder,
 *      auto_detect_available_folds; spec nnunet-v2.md 8.4-8.6.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "model.h"
#include "onnx.h"
#include "plans.h"
#include "pth.h"
#include "rng.h"
#include "weights.h"

#define MAX_FOLDS 64

nne_convert_params nne_convert_default_params(void) {
    nne_convert_params p;
    memset(&p, 0, sizeof p);
    p.configuration = "3d_fullres";
    p.checkpoint = "final";
    return p;
}

/* One fold's parameters in canonical order (owned float buffers). */
typedef struct fold_data {
    char name[40];
    float **data;          /* [np] owned                      */
    char sha256[65];
    char *trainer;         /* owned or NULL                   */
    int64_t epoch;
    int has_mirror;
    int n_mirror;
    int mirror[8];
} fold_data;

static void fold_data_free(fold_data *fd, int np) {
    if (fd->data)
        for (int i = 0; i < np; i++) free(fd->data[i]);
    free(fd->data);
    free(fd->trainer);
    memset(fd, 0, sizeof *fd);
}

static int spec_index(const nne_param_spec *specs, int np, const char *name) {
    for (int i = 0; i < np; i++)
        if (!strcmp(specs[i].name, name)) return i;
    return -1;
}

/* Maps a duplicate key to its primary: "decoder.encoder.X" -> "encoder.X" and
 * ".all_modules.0." -> ".conv.", ".all_modules.K." (K >= 1) -> ".norm." (the only other
 * parameter-bearing module of a ConvDropoutNormReLU block). Returns 1 if `key` was a duplicate. */
static int primary_key(const char *key, char *out, size_t n) {
    int dup = 0;
    const char *k = key;
    if (!strncmp(k, "decoder.encoder.", 16)) {
        k += 8;
        dup = 1;
    }
    snprintf(out, n, "%s", k);
    char *am = strstr(out, ".all_modules.");
    if (am) {
        char *num = am + 13, *end = num;
        while (*end >= '0' && *end <= '9') end++;
        if (end == num || *end != '.') return dup;
        const char *repl = (end - num == 1 && *num == '0') ? ".conv" : ".norm";
        char tail[96];
        snprintf(tail, sizeof tail, "%s", end);
        snprintf(am, n - (size_t)(am - out), "%s%s", repl, tail);
        dup = 1;
    }
    return dup;
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *sh) {
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)sh[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

static nne_status load_fold(nne_ctx *ctx, const char *path, const nne_param_spec *specs, int np,
                            fold_data *fd) {
    nne_pth *p = NULL;
    nne_status st = nne_pth_read(ctx, path, &p);
    if (st != NNE_OK) return st;
    fd->data = calloc((size_t)np, sizeof *fd->data);
    if (!fd->data) {
        st = nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* Primaries first. */
    for (int i = 0; i < p->n_tensors; i++) {
        const nne_pth_tensor *t = &p->tensors[i];
        int k = spec_index(specs, np, t->name);
        if (k < 0) continue;
        int ok = t->ndim == specs[k].ndim;
        for (int d = 0; ok && d < t->ndim; d++) ok = t->shape[d] == specs[k].shape[d];
        if (!ok) {
            char a[96], b[96];
            shape_str(a, sizeof a, t->ndim, t->shape);
            shape_str(b, sizeof b, specs[k].ndim, specs[k].shape);
            st = nne_fail(ctx, NNE_ERR_SHAPE, "%s: tensor '%s' has shape %s, the plans imply %s",
                          path, t->name, a, b);
            goto done;
        }
        if (fd->data[k]) {
            st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: tensor '%s' appears twice", path, t->name);
            goto done;
        }
        fd->data[k] = malloc((size_t)t->nelem * sizeof(float));
        if (!fd->data[k]) {
            st = nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
            goto done;
        }
        memcpy(fd->data[k], t->data, (size_t)t->nelem * sizeof(float));
    }
    for (int k = 0; k < np; k++) {
        if (!fd->data[k]) {
            st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: tensor '%s' is missing from network_weights",
                          path, specs[k].name);
            goto done;
        }
    }
    /* Duplicates must agree with their primaries; anything else is foreign. */
    for (int i = 0; i < p->n_tensors; i++) {
        const nne_pth_tensor *t = &p->tensors[i];
        if (spec_index(specs, np, t->name) >= 0) continue;
        char prim[160];
        int k = primary_key(t->name, prim, sizeof prim) ? spec_index(specs, np, prim) : -1;
        if (k < 0) {
            st = nne_fail(ctx, NNE_ERR_FORMAT,
                          "%s: unexpected tensor '%s' (not part of a PlainConvUNet with these "
                          "plans)", path, t->name);
            goto done;
        }
        int same = t->nelem == specs[k].nelem &&
                   memcmp(t->data, fd->data[k], (size_t)t->nelem * sizeof(float)) == 0;
        if (!same) {
            st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: duplicate entry '%s' disagrees with '%s'",
                          path, t->name, prim);
            goto done;
        }
    }
    for (int i = 0; i < 32; i++) sprintf(fd->sha256 + 2 * i, "%02x", p->sha256[i]);
    if (p->trainer_name && !(fd->trainer = strdup(p->trainer_name))) {
        st = nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
        goto done;
    }
    fd->epoch = p->current_epoch;
    fd->has_mirror = p->has_mirror_axes;
    fd->n_mirror = p->n_mirror_axes;
    memcpy(fd->mirror, p->mirror_axes, sizeof fd->mirror);
done:
    nne_pth_free(p);
    return st;
}

/* He initialisation as nnU-Net's InitWeights_He(1e-2): weights ~ N(0, 2/((1+a^2) fan_in)),
 * biases 0, norm weight 1, norm bias 0 (spec 8.4). */
static nne_status random_fold(nne_ctx *ctx, const nne_param_spec *specs, int np, uint64_t seed,
                              fold_data *fd) {
    fd->data = calloc((size_t)np, sizeof *fd->data);
    if (!fd->data) return nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
    nne_rng r = nne_rng_init(seed);
    for (int k = 0; k < np; k++) {
        const nne_param_spec *s = &specs[k];
        float *d = malloc((size_t)s->nelem * sizeof(float));
        if (!d) return nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
        fd->data[k] = d;
        if (s->kind == NNE_PKIND_W) {
            double fan_in = (double)s->shape[1] * s->shape[2] * s->shape[3] * s->shape[4];
            double std = sqrt(2.0 / (1.0 + 1e-4)) / sqrt(fan_in);
            for (int64_t i = 0; i < s->nelem; i++) d[i] = (float)(std * nne_rng_normal(&r));
        } else {
            float v = s->kind == NNE_PKIND_NORM_W ? 1.0f : 0.0f;
            for (int64_t i = 0; i < s->nelem; i++) d[i] = v;
        }
    }
    snprintf(fd->name, sizeof fd->name, "0");
    fd->epoch = 0;
    fd->has_mirror = 1;
    fd->n_mirror = 3;
    fd->mirror[0] = 0;
    fd->mirror[1] = 1;
    fd->mirror[2] = 2;
    return NNE_OK;
}

/* Parses "0", "0,1,2", "all" into fold names; NULL -> every fold_N folder with the checkpoint. */
static nne_status list_folds(nne_ctx *ctx, const char *dir, const char *spec, const char *ckpt,
                             char names[][40], int *n) {
    *n = 0;
    if (spec) {
        const char *p = spec;
        while (*p) {
            size_t l = strcspn(p, ",");
            if (l == 0 || l >= 32 || *n == MAX_FOLDS)
                return nne_fail(ctx, NNE_ERR_ARG, "bad fold list '%s'", spec);
            memcpy(names[*n], p, l);
            names[*n][l] = '\0';
            int ok = !strcmp(names[*n], "all");
            if (!ok) {
                ok = 1;
                for (size_t i = 0; i < l; i++) ok &= names[*n][i] >= '0' && names[*n][i] <= '9';
            }
            if (!ok) return nne_fail(ctx, NNE_ERR_ARG, "bad fold '%s' (a number or 'all')", names[*n]);
            for (int j = 0; j < *n; j++)
                if (!strcmp(names[j], names[*n]))
                    return nne_fail(ctx, NNE_ERR_ARG, "fold '%s' listed twice", names[*n]);
            (*n)++;
            p += l;
            if (*p == ',') p++;
        }
        return *n ? NNE_OK : nne_fail(ctx, NNE_ERR_ARG, "empty fold list");
    }
    DIR *d = opendir(dir);
    if (!d) return nne_fail(ctx, NNE_ERR_IO, "%s: cannot open directory", dir);
    int nums[MAX_FOLDS];
    struct dirent *e;
    while ((e = readdir(d)) && *n < MAX_FOLDS) {
        if (strncmp(e->d_name, "fold_", 5) != 0) continue;
        const char *num = e->d_name + 5;
        int ok = *num != '\0' && strlen(num) < 9;
        for (const char *c = num; ok && *c; c++) ok = *c >= '0' && *c <= '9';
        if (!ok) continue; /* fold_all is used only when asked for, as nnU-Net */
        char path[4096];
        snprintf(path, sizeof path, "%s/%s/checkpoint_%s.pth", dir, e->d_name, ckpt);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fclose(f);
        nums[(*n)++] = atoi(num);
    }
    closedir(d);
    if (*n == 0)
        return nne_fail(ctx, NNE_ERR_IO, "%s: no fold_N/checkpoint_%s.pth found", dir, ckpt);
    for (int i = 1; i < *n; i++) /* insertion sort: numeric order */
        for (int j = i; j > 0 && nums[j] < nums[j - 1]; j--) {
            int t = nums[j];
            nums[j] = nums[j - 1];
            nums[j - 1] = t;
        }
    for (int i = 0; i < *n; i++) snprintf(names[i], 40, "%d", nums[i]);
    return NNE_OK;
}

static cJSON *int_array(const int *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

/* The JSON header: plans reduced to the resolved configuration, dataset, folds, metadata. */
static char *make_header(const cJSON *plans, const char *cfg_name, const cJSON *config,
                         const cJSON *dataset, const fold_data *folds, int nf, const char *ckpt,
                         const char *source, uint64_t seed) {
    cJSON *h = cJSON_CreateObject();
    cJSON *p = cJSON_Duplicate(plans, 1);
    cJSON *cfgs = cJSON_CreateObject();
    if (!h || !p || !cfgs) goto fail;
    cJSON_AddStringToObject(h, "format", "nnedge-model");
    cJSON_AddNumberToObject(h, "format_version", NNE_WEIGHTS_VERSION);
    cJSON_AddStringToObject(h, "nnedge_version", NNE_VERSION_STRING);
    cJSON_AddStringToObject(h, "configuration", cfg_name);
    cJSON_AddItemToObject(cfgs, cfg_name, cJSON_Duplicate(config, 1));
    cJSON_DeleteItemFromObjectCaseSensitive(p, "configurations");
    cJSON_AddItemToObject(p, "configurations", cfgs);
    cfgs = NULL;
    cJSON_AddItemToObject(h, "plans", p);
    p = NULL;
    cJSON_AddItemToObject(h, "dataset", cJSON_Duplicate(dataset, 1));
    cJSON *fa = cJSON_AddArrayToObject(h, "folds");
    for (int i = 0; i < nf; i++) {
        cJSON *fo = cJSON_CreateObject();
        cJSON_AddStringToObject(fo, "name", folds[i].name);
        if (source[0] == 'n') {
            char file[64];
            snprintf(file, sizeof file, "checkpoint_%s.pth", ckpt);
            cJSON_AddStringToObject(fo, "checkpoint", file);
            cJSON_AddStringToObject(fo, "sha256", folds[i].sha256);
            if (folds[i].trainer) cJSON_AddStringToObject(fo, "trainer_name", folds[i].trainer);
            if (folds[i].epoch >= 0)
                cJSON_AddNumberToObject(fo, "current_epoch", (double)folds[i].epoch);
        }
        cJSON_AddItemToArray(fa, fo);
    }
    if (folds[0].has_mirror)
        cJSON_AddItemToObject(h, "mirroring_axes", int_array(folds[0].mirror, folds[0].n_mirror));
    else
        cJSON_AddNullToObject(h, "mirroring_axes");
    cJSON *src = cJSON_AddObjectToObject(h, "source");
    cJSON_AddStringToObject(src, "type", source);
    if (source[0] == 'r') cJSON_AddNumberToObject(src, "seed", (double)seed);
    char *text = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    return text;
fail:
    cJSON_Delete(h);
    cJSON_Delete(p);
    cJSON_Delete(cfgs);
    return NULL;
}

/* A dataset.json stand-in for random init without one: channels from the normalization
 * schemes, labels background + lesion. */
static cJSON *default_dataset(const nne_arch *a) {
    cJSON *d = cJSON_CreateObject();
    cJSON *ch = cJSON_AddObjectToObject(d, "channel_names");
    for (int i = 0; i < a->n_in; i++) {
        char k[16], v[24];
        snprintf(k, sizeof k, "%d", i);
        snprintf(v, sizeof v, "channel_%d", i);
        cJSON_AddStringToObject(ch, k, v);
    }
    cJSON *lb = cJSON_AddObjectToObject(d, "labels");
    cJSON_AddNumberToObject(lb, "background", 0);
    cJSON_AddNumberToObject(lb, "lesion", 1);
    cJSON_AddStringToObject(d, "file_ending", ".nii.gz");
    return d;
}

nne_status nne_convert(nne_ctx *ctx, const nne_convert_params *params, const char *out_path) {
    nne_clear_error(ctx);
    nne_convert_params prm = params ? *params : nne_convert_default_params();
    if (!prm.configuration) prm.configuration = "3d_fullres";
    if (!prm.checkpoint) prm.checkpoint = "final";
    if (!out_path) return nne_fail(ctx, NNE_ERR_ARG, "no output path");
    if (!!prm.results_dir == !!prm.random_init_plans)
        return nne_fail(ctx, NNE_ERR_ARG, "give either a results folder or --random-init plans");
    if (prm.results_dir && nne_onnx_is_path(prm.results_dir)) { /* src/onnx_import.c */
        if (prm.folds)
            return nne_fail(ctx, NNE_ERR_ARG, "an ONNX file holds one fold; folds do not apply");
        return nne_onnx_convert(ctx, prm.results_dir, out_path);
    }
    if (strcmp(prm.checkpoint, "final") && strcmp(prm.checkpoint, "best") &&
        strcmp(prm.checkpoint, "latest"))
        return nne_fail(ctx, NNE_ERR_ARG, "checkpoint must be final, best or latest, not '%s'",
                        prm.checkpoint);
    nne_status st;
    cJSON *plans = NULL, *dataset = NULL, *config = NULL;
    nne_param_spec *specs = NULL;
    fold_data *folds = NULL;
    nne_wtensor *wt = NULL;
    char *header = NULL;
    int nf = 0, np = 0;
    char path[4096];
    char (*names)[40] = calloc(MAX_FOLDS, sizeof *names);
    specs = malloc(sizeof *specs * NNE_MAX_PARAMS);
    if (!names || !specs) {
        st = nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
        goto done;
    }
    const char *plans_path = prm.random_init_plans;
    if (prm.results_dir) {
        snprintf(path, sizeof path, "%s/plans.json", prm.results_dir);
        plans_path = path;
    }
    if ((st = nne_json_read_file(ctx, plans_path, &plans))) goto done;
    if ((st = nne_plans_resolve(ctx, plans, prm.configuration, plans_path, &config))) goto done;
    const char *ds_path = prm.random_init_dataset;
    char ds_buf[4096];
    if (prm.results_dir) {
        snprintf(ds_buf, sizeof ds_buf, "%s/dataset.json", prm.results_dir);
        ds_path = ds_buf;
    }
    if (ds_path && (st = nne_json_read_file(ctx, ds_path, &dataset))) goto done;
    nne_arch arch;
    if ((st = nne_plans_arch(ctx, config, dataset, plans_path, &arch))) goto done;
    if (!dataset && !(dataset = default_dataset(&arch))) {
        st = nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
        goto done;
    }
    np = nne_arch_params(&arch, specs);

    if (prm.results_dir) {
        if ((st = list_folds(ctx, prm.results_dir, prm.folds, prm.checkpoint, names, &nf)))
            goto done;
    } else {
        nf = 1;
    }
    folds = calloc((size_t)nf, sizeof *folds);
    if (!folds) {
        st = nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < nf; i++) {
        if (prm.results_dir) {
            snprintf(folds[i].name, sizeof folds[i].name, "%s", names[i]);
            snprintf(path, sizeof path, "%s/fold_%s/checkpoint_%s.pth", prm.results_dir, names[i],
                     prm.checkpoint);
            if ((st = load_fold(ctx, path, specs, np, &folds[i]))) goto done;
            if (folds[i].has_mirror != folds[0].has_mirror ||
                folds[i].n_mirror != folds[0].n_mirror ||
                memcmp(folds[i].mirror, folds[0].mirror, sizeof folds[0].mirror)) {
                st = nne_fail(ctx, NNE_ERR_FORMAT,
                              "%s: inference_allowed_mirroring_axes differ from fold %s", path,
                              folds[0].name);
                goto done;
            }
        } else if ((st = random_fold(ctx, specs, np, prm.seed, &folds[i]))) {
            goto done;
        }
    }
    header = make_header(plans, prm.configuration, config, dataset, folds, nf, prm.checkpoint,
                         prm.results_dir ? "nnunetv2-results" : "random-init", prm.seed);
    wt = calloc((size_t)(np * nf), sizeof *wt);
    char *tnames = calloc((size_t)(np * nf), 160);
    if (!header || !wt || !tnames) {
        free(tnames);
        st = nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < nf; i++) {
        for (int k = 0; k < np; k++) {
            nne_wtensor *t = &wt[i * np + k];
            char *tn = tnames + (size_t)(i * np + k) * 160;
            nne_model_tensor_name(tn, 160, folds[i].name, specs[k].name);
            t->name = tn;
            t->ndim = specs[k].ndim;
            memcpy(t->shape, specs[k].shape, sizeof specs[k].shape);
            t->data = folds[i].data[k];
        }
    }
    st = nne_weights_write(ctx, out_path, header, wt, np * nf);
    free(tnames);
done:
    if (folds)
        for (int i = 0; i < nf; i++) fold_data_free(&folds[i], np);
    free(folds);
    free(wt);
    free(header);
    free(specs);
    free(names);
    cJSON_Delete(config);
    cJSON_Delete(plans);
    cJSON_Delete(dataset);
    return st;
}
