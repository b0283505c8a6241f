/*
 * cmd_synth.c - `nnedge synth`: writes N synthetic stroke cases (src/synth.h) as an nnU-Net v2
 * raw dataset or as an ISLES'22-style tree that `nnedge dataset isles22` ingests.
 *
 * LAYOUTS
 *   nnunet:  DIR/imagesTr/synth_NNNN_0000.nii.gz (DWI), _0001 (ADC), DIR/labelsTr/synth_NNNN
 *            .nii.gz, DIR/dataset.json, DIR/manifest/synth_NNNN.json
 *   isles22: DIR/rawdata/sub-strokecaseNNNN/ses-0001/dwi/sub-strokecaseNNNN_ses-0001_{dwi,adc}
 *            .nii.gz, with --flair also .../ses-0001/anat/sub-strokecaseNNNN_ses-0001_FLAIR
 *            .nii.gz (its own grid, as in ISLES'22), DIR/derivatives/sub-strokecaseNNNN/
 *            ses-0001/..._msk.nii.gz, DIR/manifest/sub-strokecaseNNNN.json
 * Images are stored as float64 (as ISLES'22 distributes them) or int16 with scl_slope (drawn
 * per case by --storage), masks as uint8. --flair is refused with the nnunet layout: nnU-Net
 * needs every channel on one grid, and the FLAIR is deliberately on its own. Case k of seed S
 * is the same whatever N is, and reruns give byte-identical files.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "json.h"
#include "nifti.h"
#include "synth.h"

/* mkdir -p; returns 0 on success. */
static int make_dirs(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++)
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
            buf[i] = c;
        }
    return 0;
}

/* Writes one case; returns an exit code. */
static int write_case(nne_ctx *ctx, const char *out, int isles, const nne_synth_result *r,
                      int number) {
    char id[64], dimg[4096], dlab[4096], danat[4096], dman[4096];
    char p_dwi[4400], p_adc[4400], p_msk[4400], p_man[4400], p_flair[4400];
    danat[0] = '\0';
    if (isles) {
        snprintf(id, sizeof id, "sub-strokecase%04d", number);
        snprintf(dimg, sizeof dimg, "%s/rawdata/%s/ses-0001/dwi", out, id);
        snprintf(dlab, sizeof dlab, "%s/derivatives/%s/ses-0001", out, id);
        snprintf(p_dwi, sizeof p_dwi, "%s/%s_ses-0001_dwi.nii.gz", dimg, id);
        snprintf(p_adc, sizeof p_adc, "%s/%s_ses-0001_adc.nii.gz", dimg, id);
        snprintf(p_msk, sizeof p_msk, "%s/%s_ses-0001_msk.nii.gz", dlab, id);
        if (r->flair) {
            snprintf(danat, sizeof danat, "%s/rawdata/%s/ses-0001/anat", out, id);
            snprintf(p_flair, sizeof p_flair, "%s/%s_ses-0001_FLAIR.nii.gz", danat, id);
        }
    } else {
        snprintf(id, sizeof id, "synth_%04d", number);
        snprintf(dimg, sizeof dimg, "%s/imagesTr", out);
        snprintf(dlab, sizeof dlab, "%s/labelsTr", out);
        snprintf(p_dwi, sizeof p_dwi, "%s/%s_0000.nii.gz", dimg, id);
        snprintf(p_adc, sizeof p_adc, "%s/%s_0001.nii.gz", dimg, id);
        snprintf(p_msk, sizeof p_msk, "%s/%s.nii.gz", dlab, id);
    }
    snprintf(dman, sizeof dman, "%s/manifest", out);
    snprintf(p_man, sizeof p_man, "%s/%s.json", dman, id);
    if (make_dirs(dimg) || make_dirs(dlab) || make_dirs(dman) || (danat[0] && make_dirs(danat))) {
        fprintf(stderr, "nnedge synth: cannot create folders under %s\n", out);
        return CLI_EXIT_STATUS_BASE + NNE_ERR_IO;
    }
    /* int16: DWI (and FLAIR) scaled to the int16 range, ADC in 10^-6 mm^2/s (slope 0.001). */
    const int i16 = r->storage == NNE_SYNTH_STORAGE_INT16;
    const int dt = i16 ? NNE_DT_INT16 : NNE_DT_FLOAT64;
    nne_status st;
    if ((st = nne_image_write_scaled(ctx, p_dwi, r->dwi, dt, i16 ? r->dwi_slope : 1, 0)) !=
            NNE_OK ||
        (st = nne_image_write_scaled(ctx, p_adc, r->adc, dt, i16 ? r->adc_slope : 1, 0)) !=
            NNE_OK ||
        (st = nne_image_write(ctx, p_msk, r->mask, NNE_DT_UINT8)) != NNE_OK ||
        (r->flair && isles &&
         (st = nne_image_write_scaled(ctx, p_flair, r->flair, dt, i16 ? r->flair_slope : 1,
                                      0)) != NNE_OK))
        return cli_fail("synth", ctx, st);
    char *man = nne_synth_manifest(r, id);
    if (!man) return cli_fail("synth", ctx, NNE_ERR_NOMEM);
    size_t len = strlen(man);
    int bad = cli_write_atomic(p_man, man, len);
    free(man);
    if (bad) {
        fprintf(stderr, "nnedge synth: cannot write %s\n", p_man);
        return CLI_EXIT_STATUS_BASE + NNE_ERR_IO;
    }
    return CLI_EXIT_OK;
}

/* DIR/dataset.json of the nnunet layout. */
static int write_dataset_json(const char *out, int n) {
    cJSON *j = cJSON_CreateObject(), *ch = cJSON_AddObjectToObject(j, "channel_names");
    cJSON *lab = cJSON_AddObjectToObject(j, "labels");
    if (!j || !ch || !lab) {
        cJSON_Delete(j);
        return CLI_EXIT_STATUS_BASE + NNE_ERR_NOMEM;
    }
    cJSON_AddStringToObject(ch, "0", "DWI");
    cJSON_AddStringToObject(ch, "1", "ADC");
    cJSON_AddNumberToObject(lab, "background", 0);
    cJSON_AddNumberToObject(lab, "lesion", 1);
    cJSON_AddNumberToObject(j, "numTraining", n);
    cJSON_AddStringToObject(j, "file_ending", ".nii.gz");
    cJSON_AddStringToObject(j, "converted_by", "nnedge synth");
    char *text = cJSON_Print(j), path[4200];
    cJSON_Delete(j);
    if (!text) return CLI_EXIT_STATUS_BASE + NNE_ERR_NOMEM;
    snprintf(path, sizeof path, "%s/dataset.json", out);
    int bad = cli_write_atomic(path, text, strlen(text));
    free(text);
    if (bad) {
        fprintf(stderr, "nnedge synth: cannot write %s\n", path);
        return CLI_EXIT_STATUS_BASE + NNE_ERR_IO;
    }
    return CLI_EXIT_OK;
}

/* Parses a probability in [0, 1]; returns 0 on success. */
static int parse_prob(const char *s, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || !end || end == s || *end || !(v >= 0 && v <= 1)) return -1;
    *out = v;
    return 0;
}

int cmd_synth(int argc, char **argv) {
    const char *out = NULL, *layout = "nnunet", *size = "full", *seed_s = "0";
    const char *trap_only_s = "0", *storage = "mixed";
    int n = 0, want_help = 0, quiet = 0, flair = 0;
    const cli_opt opts[] = {
        {"--number", "-n", CLI_INT, &n, "number of cases to write"},
        {"--output", "-o", CLI_STR, &out, "output folder (created)"},
        {"--layout", NULL, CLI_STR, &layout, "nnunet (default) or isles22"},
        {"--seed", NULL, CLI_STR, &seed_s, "64-bit seed (default 0); case k depends on (S, k)"},
        {"--size", NULL, CLI_STR, &size, "full (ISLES-like grids, default) or small (tests)"},
        {"--trap-only", NULL, CLI_STR, &trap_only_s,
         "P: probability of a case without lesion, traps only (0..1, default 0)"},
        {"--storage", NULL, CLI_STR, &storage,
         "float64, int16 (scl_slope) or mixed (default: int16 for 30 % of the cases)"},
        {"--flair", NULL, CLI_FLAG, &flair, "also write a FLAIR on its own grid (isles22 only)"},
        {"--quiet", "-q", CLI_FLAG, &quiet, "no per-case line on stdout"},
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[1];
    int npos = 0;
    int bad = cli_parse(argc, argv, 2, opts, n_opts, pos, 0, &npos, &want_help);
    int isles = layout && !strcmp(layout, "isles22");
    char *end = NULL;
    errno = 0;
    unsigned long long seed = strtoull(seed_s, &end, 10);
    if (errno || !end || *end || seed_s[0] == '-') bad = 1;
    if (!isles && strcmp(layout, "nnunet")) bad = 1;
    if (strcmp(size, "full") && strcmp(size, "small")) bad = 1;
    nne_synth_params sp = nne_synth_default_params();
    if (parse_prob(trap_only_s, &sp.p_trap_only)) bad = 1;
    if (!strcmp(storage, "float64")) sp.storage = NNE_SYNTH_STORAGE_FLOAT64;
    else if (!strcmp(storage, "int16")) sp.storage = NNE_SYNTH_STORAGE_INT16;
    else if (!strcmp(storage, "mixed")) sp.storage = NNE_SYNTH_STORAGE_MIXED;
    else bad = 1;
    if (bad || want_help || !out || n < 1 || n > 9999) {
        fprintf(stderr, "usage: nnedge synth -n N -o DIR [--layout nnunet|isles22] [--seed S] "
                        "[--size small|full] [--trap-only P] [--storage float64|int16|mixed] "
                        "[--flair]\n");
        cli_print_opts(opts, n_opts);
        return want_help && !bad ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    if (flair && !isles) {
        fprintf(stderr, "nnedge synth: --flair needs --layout isles22: the FLAIR is on its own "
                        "grid (as in ISLES'22), and nnU-Net needs every channel on one grid\n");
        return CLI_EXIT_USAGE;
    }
    sp.flair = flair;
    nne_ctx_params cp = nne_ctx_default_params();
    cp.n_threads = 1;
    nne_ctx *ctx = NULL;
    nne_status st = nne_ctx_init(&cp, &ctx);
    if (st != NNE_OK) return cli_fail("synth", NULL, st);
    sp.size = strcmp(size, "small") ? NNE_SYNTH_SIZE_FULL : NNE_SYNTH_SIZE_SMALL;
    int rc = make_dirs(out) ? CLI_EXIT_STATUS_BASE + NNE_ERR_IO : CLI_EXIT_OK;
    if (rc != CLI_EXIT_OK) fprintf(stderr, "nnedge synth: cannot create %s\n", out);
    for (int i = 0; i < n && rc == CLI_EXIT_OK; i++) {
        nne_synth_result r;
        if ((st = nne_synth_case(ctx, &sp, (uint64_t)seed, i, &r)) != NNE_OK) {
            rc = cli_fail("synth", ctx, st);
            break;
        }
        rc = write_case(ctx, out, isles, &r, i + 1);
        if (rc == CLI_EXIT_OK && !quiet)
            printf("case %4d: %-15s %7.2f mL  %3lldx%3lldx%3lld @ %.2gx%.2gx%.2g mm  %-7s"
                   "%s%s%s%s\n",
                   i + 1, nne_synth_territory_name(r.territory), r.lesion_ml,
                   (long long)r.dwi->dim[1], (long long)r.dwi->dim[2],
                   (long long)r.dwi->dim[3], r.spacing[0], r.spacing[1], r.spacing[2],
                   r.storage == NNE_SYNTH_STORAGE_INT16 ? "int16" : "float64",
                   r.flair ? "  +FLAIR" : "",
                   (r.traps_present & NNE_SYNTH_TRAP_SHINE) ? "  +shine-through" : "",
                   (r.traps_present & NNE_SYNTH_TRAP_CHRONIC) ? "  +chronic" : "",
                   (r.traps_present & NNE_SYNTH_TRAP_CSF) ? "  +bright-CSF" : "");
        nne_synth_result_free(&r);
    }
    if (rc == CLI_EXIT_OK && !isles) rc = write_dataset_json(out, n);
    nne_ctx_free(ctx);
    return rc;
}
