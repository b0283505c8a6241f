/*
 * cli.h - shared pieces of the nnedge command-line tool: the option parser, exit codes and
 * the subcommand signatures.
 *
 * Exit codes (docs/EXIT_CODES.md): 0 success, 1 internal error, 2 usage error, and
 * 10 + nne_status for library failures (11 out of memory, 12 I/O, 13 format, 14 shape,
 * 15 invalid argument, 16 unsupported, 17 checksum, 18 aborted).
 */
#ifndef NNE_CLI_H
#define NNE_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "nnedge.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_INTERNAL 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_PARTIAL 3 /* batch: some cases failed, others succeeded */
#define CLI_EXIT_STATUS_BASE 10

typedef enum cli_opt_kind { CLI_FLAG, CLI_STR, CLI_INT } cli_opt_kind;

typedef struct cli_opt {
    const char *name;   /* long form, e.g. "--threads"         */
    const char *alias;  /* short form, e.g. "-t", or NULL      */
    cli_opt_kind kind;
    void *dst;          /* int* (FLAG/INT) or const char** (STR) */
    const char *help;
} cli_opt;

/* Parses argv[first..argc) against `opts`; positional arguments go to pos (at most max_pos).
 * Prints a one-line error and returns -1 on unknown options, missing values, bad integers or
 * too many positionals; returns 0 otherwise. "-h"/"--help" sets *help if help != NULL. */
int cli_parse(int argc, char **argv, int first, const cli_opt *opts, int n_opts,
              const char **pos, int max_pos, int *n_pos, int *help);

/* Prints the options table. */
void cli_print_opts(const cli_opt *opts, int n_opts);

/* Prints "nnedge CMD: <status>: <message>" to stderr and returns the exit code for `st`. */
int cli_fail(const char *cmd, nne_ctx *ctx, nne_status st);

/* Writes len bytes to path through a temporary file in the same folder and a rename, so no
 * partial file is ever left. Returns 0 on success, -1 on failure (nothing written). */
int cli_write_atomic(const char *path, const void *data, size_t len);

/* Monotonic wall-clock time in seconds. */
double cli_now_s(void);

/* Parses "D,H,W" into three positive integers; returns 0 on success. */
int cli_parse_shape(const char *s, int64_t out[3]);

int cmd_convert(int argc, char **argv);
int cmd_export_onnx(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_dataset(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);

/* Computes the stroke report of mask (with dwi / adc, either may be NULL; all borrowed) and
 * writes PREFIX.json and PREFIX.png (the PNG is skipped with a warning when built without
 * cairo); prints a short summary on stdout when print is set. The paths and model name go
 * into the JSON (may be NULL). Returns an exit code (CLI_EXIT_OK, or cli_fail's for cmd). */
struct nne_image;
int cli_report_write(nne_ctx *ctx, const char *cmd, const struct nne_image *mask,
                     const struct nne_image *dwi,
                     const struct nne_image *adc, int label, const char *mask_path,
                     const char *dwi_path, const char *adc_path, const char *model,
                     const char *prefix, int print);

#endif /* NNE_CLI_H */
