/* `tailgate mock`: the mock provider as a standalone HTTP server. */
#ifndef TG_MOCK_SERVER_H
#define TG_MOCK_SERVER_H

/* argv holds the arguments after "mock". Returns the exit status. */
int tg_mock_main(int argc, char **argv);

#endif
