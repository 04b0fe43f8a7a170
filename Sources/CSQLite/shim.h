// The system SQLite library (Debian: libsqlite3-dev), for the LegacyMigration example only.
#ifndef CSQLITE_SHIM_H
#define CSQLITE_SHIM_H

#include <sqlite3.h>

/// SQLITE_TRANSIENT (SQLite copies bound text at once), which Swift cannot import as a macro.
static inline sqlite3_destructor_type csqlite_transient(void) {
    return SQLITE_TRANSIENT;
}

#endif
