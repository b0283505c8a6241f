/*
 * main.c - the nnedge command-line tool: a table of subcommands (redis-style), each in its
 * own cmd_*.c file, mapping library statuses to the exit codes of docs/EXIT_CODES.md.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"convert", cmd_convert, "import an nnU-Net v2 results folder (or random-init plans) to .nne"},
    {"export-onnx", cmd_export_onnx, "write one fold as ONNX (ONNX Runtime, TensorRT) with metadata"},
    {"predict", cmd_predict, "segment NIfTI cases exactly as nnU-Net v2 predicts them"},
    {"evaluate", cmd_evaluate, "per-case Dice, IoU, AP, volumes, lesion F1, HD95 and summaries"},
    {"compare", cmd_compare, "Friedman/Wilcoxon comparison of evaluated configurations"},
    {"report", cmd_report, "stroke report of a mask: volume, lesions, ADC, overlay (not clinical)"},
    {"info", cmd_info, "print a model's topology, parameters, GMAC, labels, folds, checksums"},
    {"bench", cmd_bench, "time forward passes on a fixed random input and print JSON"},
    {"synth", cmd_synth, "write synthetic stroke cases (DWI, ADC, mask, manifest) for testing"},
    {"dataset", cmd_dataset, "convert ISLES'22 to an nnU-Net raw dataset with nnU-Net's 5 folds"},
    {"calibrate", cmd_calibrate, "per-layer activation ranges for INT8 inference (JSON)"},
};

static void usage(FILE *f) {
    fprintf(f, "nnedge %s - nnU-Net v2 inference on CPUs\n\nusage: nnedge COMMAND [options]\n\n"
               "commands:\n", nne_version());
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'nnedge COMMAND --help' shows a command's options.\n"
               "exit codes: 0 ok, 1 internal error, 2 usage, 3 partial batch, 10+status on failure (11 out of\n"
               "memory, 12 i/o, 13 format, 14 shape, 15 argument, 16 unsupported, 17 checksum);\n"
               "see docs/EXIT_CODES.md.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("nnedge %s\n", nne_version());
        return CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc, argv);
    fprintf(stderr, "nnedge: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
