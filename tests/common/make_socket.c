/* make_socket PATH: leaves a unix socket file at PATH (bound, then closed), so the tool
 * tests can hand a socket to a tool as a model or text path. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (argc != 2 || strlen(argv[1]) >= sizeof a.sun_path) {
        fprintf(stderr, "usage: make_socket PATH (shorter than %zu bytes)\n", sizeof a.sun_path);
        return 2;
    }
    memcpy(a.sun_path, argv[1], strlen(argv[1]) + 1);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0) {
        perror(argv[1]);
        return 1;
    }
    close(s);
    return 0;
}
