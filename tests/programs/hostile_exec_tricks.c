/* execve with hostile arguments: wild and wrapping pointers, argument
 * vectors too long to build, files that are not programs, a directory, a
 * script whose interpreter lies outside the view.  Each is refused and the
 * program carries on. */
#include "hostile.h"

static char *big[200001];

int main(void)
{
    char *const argv[] = {"x", NULL};
    show("path_wild", CALL(SYS_execve, WILD, argv, 0));
    show("argv_wild", CALL(SYS_execve, "/proc/self/exe", WILD, 0));
    show("envp_wrap", CALL(SYS_execve, "/proc/self/exe", argv, TOP));
    char *const bad_entry[] = {"x", (char *)WILD, NULL};
    show("argv_entry_wild", CALL(SYS_execve, "/proc/self/exe", bad_entry, 0));
    static char arg[4096];
    memset(arg, 'a', sizeof arg - 1);
    for (int i = 0; i < 200000; i++)
        big[i] = arg;
    show("argv_e2big", CALL(SYS_execve, "/proc/self/exe", big, 0));
    show("not_a_program", CALL(SYS_execve, "/ro/file", argv, 0));
    show("directory", CALL(SYS_execve, "/ro/dir", argv, 0));
    long fd = CALL(SYS_open, "/data/script", O_WRONLY | O_CREAT | O_TRUNC, 0755);
    char line[4200];
    snprintf(line, sizeof line, "#!%s\n", argv[0]);
    write((int)fd, "#!/nonexistent/host/interpreter\n", 32);
    close((int)fd);
    show("script_missing_interp", CALL(SYS_execve, "/data/script", argv, 0));
    fd = CALL(SYS_open, "/data/long", O_WRONLY | O_CREAT | O_TRUNC, 0755);
    memset(line, '/', sizeof line);
    memcpy(line, "#!", 2);
    line[sizeof line - 1] = '\n';
    write((int)fd, line, sizeof line);
    close((int)fd);
    show("script_long_line", CALL(SYS_execve, "/data/long", argv, 0) < 0);
    show("dev_null", CALL(SYS_execve, "/dev/null", argv, 0));
    say("still here");
    return 0;
}
