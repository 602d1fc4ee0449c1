/* The pod sandbox's process: holds the pod's namespaces, reaps the zombies of
 * processes that join them, and exits on SIGINT or SIGTERM. What
 * registry.k8s.io/pause does; built here because no registry is reachable. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int signal) { _exit(0); }

static void on_child(int signal) {
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction stop = {.sa_handler = on_stop};
  struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP};
  if (getpid() != 1) fputs("pause: not the first process of its PID namespace\n", stderr);
  sigaction(SIGINT, &stop, NULL);
  sigaction(SIGTERM, &stop, NULL);
  sigaction(SIGCHLD, &child, NULL);
  for (;;) pause();
}
