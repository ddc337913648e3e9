// The system zlib, for gzip-compressed report batches.
#include <zlib.h>
