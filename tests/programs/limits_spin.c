/* Spins forever.  With "ignore" it first asks for SIGXCPU to be ignored. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "ignore"))
        signal(SIGXCPU, SIG_IGN);
    printf("spinning\n");
    fflush(stdout);
    volatile unsigned long x = 0;
    for (;;)
        x++;
}
