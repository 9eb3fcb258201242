// PML (prompt markup language): the parsed form of schemas and prompts.
// Grammar and examples: docs/pml.md. Parsing checks syntax and names;
// bind() checks a prompt against its schema. Token-level checks (a parameter
// value longer than its slot) belong to the compiler.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "pcache/status.h"

namespace pcache::pml {

struct SourceLocation {
  std::string file;  // a path, or "<string>" for text given directly
  int line = 0;      // 1-based
  int column = 0;    // 1-based
  std::string to_string() const;  // "file:line:column"
};

enum class Role { kNone, kSystem, kUser, kAssistant };
const char* role_name(Role role);  // "", "system", "user", "assistant"

enum class EncodingMode { kIndependent, kScaffold };
const char* encoding_mode_name(EncodingMode mode);  // "independent", "scaffold"

// One node of a schema. Children keep document order.
struct Node {
  enum class Kind {
    kText,       // text: a run of text, trimmed of leading/trailing whitespace, never empty
    kModule,     // name, cached, children
    kParameter,  // name, length, scaffold (text, may be empty)
    kUnion,      // children: kModule members only; scaffold: member name (default: first member)
    kRole,       // role, children (text, modules, parameters, unions)
  };
  Kind kind = Kind::kText;
  SourceLocation location;
  std::string text;
  std::string name;
  bool cached = true;
  int length = 0;
  std::string scaffold;
  Role role = Role::kNone;
  std::vector<Node> children;
};

struct Schema {
  std::string name;
  EncodingMode mode = EncodingMode::kScaffold;
  bool mode_given = false;     // the schema set mode="..." itself
  std::string source;          // the exact text parsed (its hash versions the schema)
  SourceLocation location;
  std::vector<Node> children;  // the root: text, modules, unions, roles (no parameters)
};

// A module chosen by a prompt, with its parameter values and nested choices.
struct ModuleRef {
  std::string name;
  SourceLocation location;
  std::map<std::string, std::string> arguments;  // parameter name -> value text
  std::vector<ModuleRef> children;
};

// New text of a prompt: plain text (kNone) or a role turn, in order.
struct Turn {
  Role role = Role::kNone;
  std::string text;
  SourceLocation location;
};

struct Prompt {
  std::string schema;  // the schema's name
  SourceLocation location;
  std::vector<ModuleRef> imports;
  std::vector<Turn> turns;
};

// Limits on input (all are errors, not truncations; docs/formats.md, "Limits").
inline constexpr size_t kMaxSourceBytes = 4u << 20;  // a schema, prompt or src= file
inline constexpr int kMaxDepth = 32;                 // nesting of elements
inline constexpr int kMaxModules = 4096;             // modules in one schema
inline constexpr int kMaxParameterLength = 1 << 16;  // a parameter's length="..." in tokens

// Which files <module src="..."> may name. A schema read from a file resolves
// src relative to that file's folder; text given directly, relative to the
// current directory. By default a src must stay inside that folder: absolute
// paths, ".." and symbolic links that lead out are refused, so that a schema
// sent by a client cannot read /etc/passwd.
struct SourceFiles {
  enum class Access {
    kNone,       // src= is refused (text from a client that may read no files)
    kBelowBase,  // inside base_dir only (the default)
    kAnywhere,   // any readable regular file (a trusted local schema)
  };
  std::string base_dir;  // with its trailing '/', or "" for the current directory
  Access access = Access::kBelowBase;
};

// `file_name` only labels locations. Errors: InvalidArgument with
// "file:line:column: message" naming what was expected.
StatusOr<Schema> parse_schema(const std::string& text, const std::string& file_name = "<string>",
                              const SourceFiles& files = {});
StatusOr<Prompt> parse_prompt(const std::string& text, const std::string& file_name = "<string>");
// Reads the file and parses it; src="..." paths are relative to its folder
// and, unless `access` is kAnywhere, stay inside it.
StatusOr<Schema> load_schema(const std::string& path,
                             SourceFiles::Access access = SourceFiles::Access::kBelowBase);
StatusOr<Prompt> load_prompt(const std::string& path);
// A whole PML file: a regular file of at most kMaxSourceBytes. Errors:
// NotFound, IoError (not a regular file, a failed read), InvalidArgument (too
// large); all name the path.
StatusOr<std::string> read_source_file(const std::string& path);

// A module of the schema that a prompt selected, with the path of names from
// the root ("menu/specials"), its node, and the values of its parameters.
struct Selection {
  std::string path;
  const Node* module = nullptr;  // points into the Schema given to bind()
  std::map<std::string, std::string> arguments;
  SourceLocation location;  // where the prompt imported it
};

// Checks `prompt` against `schema` and lists the selected modules, parents
// before children, in schema order. Errors (InvalidArgument, at the prompt's
// location): schema name differs, unknown module (naming the modules that
// exist at that level), module imported outside its parent, the same module
// twice, two members of one union, unknown parameter, missing parameter.
StatusOr<std::vector<Selection>> bind(const Schema& schema, const Prompt& prompt);

}  // namespace pcache::pml
