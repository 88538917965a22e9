#include "wgtun.h"

const char *wgtun_version(void)
{
	return "0.1.0";
}
