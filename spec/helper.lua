-- Loaded by busted before every spec file (see .busted).
require("xano.realtime.core").set_log_level(0)
