/*
 * cli_run.h - running the nnedge binary from tests as a user would: argv in, exit code out,
 * stdout and stderr captured into cli_out / cli_err. Shared by the CLI-level tests.
 */
#ifndef NNE_CLI_RUN_H
#define NNE_CLI_RUN_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static char cli_out[1 << 16], cli_err[1 << 16];

/* Reads a file into buf (NUL-terminated, at most cap - 1 bytes); returns the length. */
static int cli_slurp(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
    return (int)n;
}

/* Runs `cli` with the NULL-terminated args and standard input read from `in_path` (NULL:
 * inherited); returns its exit code (128 + signal if killed). */
static int cli_run_stdin(const char *cli, const char *const *args, const char *in_path) {
    char so[] = "/tmp/nne_cli_out_XXXXXX", se[] = "/tmp/nne_cli_err_XXXXXX";
    int fo = mkstemp(so), fe = mkstemp(se);
    pid_t pid = fork();
    if (pid == 0) {
        if (in_path) {
            FILE *in = freopen(in_path, "rb", stdin);
            if (!in) _exit(127);
        }
        dup2(fo, 1);
        dup2(fe, 2);
        const char *argv[32];
        int n = 0;
        argv[n++] = cli;
        for (; args[n - 1] && n < 31; n++) argv[n] = args[n - 1];
        argv[n] = NULL;
        execv(cli, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    close(fo);
    close(fe);
    cli_slurp(so, cli_out, sizeof cli_out);
    cli_slurp(se, cli_err, sizeof cli_err);
    unlink(so);
    unlink(se);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs `cli` with the NULL-terminated args; returns its exit code (128 + signal if killed). */
static int cli_run(const char *cli, const char *const *args) {
    return cli_run_stdin(cli, args, NULL);
}

#endif /* NNE_CLI_RUN_H */
