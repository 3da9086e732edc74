/* Lowers its own RLIMIT_CPU to 1 s soft, 2 s hard, then spins: killed by
 * SIGXCPU at the soft limit, or (with "handled": SIGXCPU caught) warned
 * there and killed by SIGKILL at the hard one, as on Linux. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

static volatile int warned;

static void on_xcpu(int sig)
{
    (void)sig;
    warned++;
}

int main(int argc, char **argv)
{
    struct rlimit l = {1, 2};
    if (argc > 1 && !strcmp(argv[1], "handled"))
        signal(SIGXCPU, on_xcpu);
    printf("setrlimit %d\n", setrlimit(RLIMIT_CPU, &l));
    fflush(stdout);
    for (;;)
        if (warned == 1) {
            printf("warned\n");
            fflush(stdout);
            warned = 2;
        }
}
