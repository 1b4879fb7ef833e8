/* portscope: the whole public library. */
#ifndef PORTSCOPE_H
#define PORTSCOPE_H

#define PORTSCOPE_VERSION "0.1.0"

#include "addr.h"
#include "sock.h"
#include "whoami.h"
#include "net.h"
#include "connfail.h"
#include "diag.h"
#include "diagmon.h"
#include "owners.h"
#include "reuseport.h"
#include "hist.h"
#include "json.h"
#include "loop.h"
#include "proxy.h"
#include "line.h"

#endif
