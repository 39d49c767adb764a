/* The mock's script queue (internal to mock/). */
#ifndef TG_MOCK_SCRIPT_H
#define TG_MOCK_SCRIPT_H

#include <stdbool.h>

#include "mock/engine.h"

void tg_mock_script_clear(struct tg_mock *m);
/* Takes the next step (a copy the caller frees); false when none is left. */
bool tg_mock_script_next(struct tg_mock *m, struct tg_mock_step *out);
void tg_mock_step_free(struct tg_mock_step *s);

#endif
