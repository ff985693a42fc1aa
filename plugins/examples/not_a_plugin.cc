// A shared object that includes no framework header, so it carries no
// framework version: loading it as a plugin must fail with that reason. For
// tests.
extern "C" int not_a_plugin_answer() { return 42; }
