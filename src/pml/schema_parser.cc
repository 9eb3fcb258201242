// parse_schema: XML -> Schema, checking the grammar of docs/pml.md.
#include <climits>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "pml/xml_source.h"
#include "util/excerpt.h"

namespace pcache::pml {
namespace {

// Names already used in one module scope: a module (or the root) with the
// role tags and unions inside it, which are transparent for naming.
struct Scope {
  std::map<std::string, SourceLocation> modules;
  std::map<std::string, SourceLocation> parameters;
};

// Where the children being parsed sit.
enum class Place { kRoot, kModule, kUnion };

struct Context {
  Place place = Place::kRoot;
  bool in_module = false;   // parameters allowed (inside a module, through role tags)
  Role role = Role::kNone;  // the role tag around, if any: roles do not nest
  std::string parent;       // "<schema>", "<module> 'menu'", "<user>" ... for messages
};

class SchemaParser {
 public:
  SchemaParser(const std::string& text, const std::string& file, SourceFiles files)
      : text_(text), source_(text, file), files_(std::move(files)) {}

  StatusOr<Schema> parse() {
    PCACHE_ASSIGN_OR_RETURN(pugi::xml_node root, source_.parse("<schema name=\"...\">"));
    Schema schema;
    schema.source = text_;
    schema.location = source_.at(root);
    if (std::string(root.name()) != "schema") {
      return error_at(schema.location, "root element is <" + std::string(root.name()) +
                                           ">; expected <schema name=\"...\">");
    }
    PCACHE_RETURN_IF_ERROR(source_.check_attributes(root, {"name", "mode"}, "<schema>"));
    pugi::xml_attribute name = root.attribute("name");
    if (!name) {
      return error_at(schema.location, "<schema> has no name; expected <schema name=\"...\">");
    }
    schema.name = name.value();
    if (!is_valid_schema_name(schema.name)) {
      return error_at(source_.at(name),
                      "invalid schema name '" + schema.name +
                          "'; expected letters, digits, '_', '-' and '.' only (and not empty)");
    }
    if (pugi::xml_attribute mode = root.attribute("mode")) {
      const std::string m = mode.value();
      if (m == "independent") {
        schema.mode = EncodingMode::kIndependent;
      } else if (m == "scaffold") {
        schema.mode = EncodingMode::kScaffold;
      } else {
        return error_at(source_.at(mode), "mode=\"" + m +
                                              "\" on <schema>; expected \"independent\" or "
                                              "\"scaffold\"");
      }
      schema.mode_given = true;
    }
    Scope scope;
    Context ctx;
    ctx.parent = "<schema>";
    PCACHE_RETURN_IF_ERROR(children(root, ctx, &scope, 1, &schema.children));
    return schema;
  }

 private:
  // What may appear in `ctx`, for "unknown element" messages.
  static std::string allowed(const Context& ctx) {
    if (ctx.place == Place::kUnion) return "<module> members only";
    std::vector<std::string> items = {"text", "<module>", "<union>"};
    if (ctx.in_module) items.push_back("<parameter>");
    if (ctx.role == Role::kNone) items.insert(items.end(), {"<system>", "<user>", "<assistant>"});
    std::string s;
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) s += (i + 1 == items.size()) ? " or " : ", ";
      s += items[i];
    }
    return s;
  }

  // Parses the children of `parent` (at nesting depth `depth`) into `out`.
  Status children(pugi::xml_node parent, const Context& ctx, Scope* scope, int depth,
                  std::vector<Node>* out) {
    auto on_text = [&](const TextRun& run) -> Status {
      if (run.text.empty()) return Status::ok_status();
      if (ctx.place == Place::kUnion) {
        return error_at(run.location, "text inside <union>; expected " + allowed(ctx));
      }
      Node n;
      n.kind = Node::Kind::kText;
      n.location = run.location;
      n.text = run.text;
      out->push_back(std::move(n));
      return Status::ok_status();
    };
    auto on_element = [&](pugi::xml_node e) -> Status {
      const SourceLocation loc = source_.at(e);
      if (depth + 1 > kMaxDepth) {
        return error_at(loc, "elements nest deeper than " + std::to_string(kMaxDepth) +
                                 " levels; expected a flatter schema");
      }
      const std::string tag = e.name();
      const Role role = role_of(e.name());
      if (ctx.place == Place::kUnion && tag != "module") {
        return error_at(loc, "<" + tag + "> inside <union>; expected " + allowed(ctx));
      }
      if (tag == "module") return module(e, ctx, scope, depth + 1, out);
      if (tag == "union") return union_of(e, ctx, scope, depth + 1, out);
      if (tag == "parameter") {
        if (!ctx.in_module) {
          return error_at(loc, "<parameter> outside a module, in " + ctx.parent +
                                   "; expected it inside a <module>");
        }
        return parameter(e, scope, out);
      }
      if (role != Role::kNone) {
        if (ctx.role != Role::kNone) {
          return error_at(loc, "<" + tag + "> inside <" + role_name(ctx.role) +
                                   ">: role tags do not nest; expected " + allowed(ctx));
        }
        return role_tag(e, role, ctx, scope, depth + 1, out);
      }
      return error_at(
          loc, "unknown element <" + tag + "> in " + ctx.parent + "; expected " + allowed(ctx));
    };
    return source_.for_each_child(parent, on_text, on_element);
  }

  // The name="..." of a module or parameter: present, valid, and new in `names`.
  StatusOr<std::string> name_of(pugi::xml_node e, const std::string& what,
                                const std::map<std::string, SourceLocation>& names) {
    pugi::xml_attribute a = e.attribute("name");
    if (!a) {
      return error_at(source_.at(e),
                      "<" + what + "> has no name; expected a name=\"...\" attribute");
    }
    const std::string name = a.value();
    if (!is_valid_name(name)) {
      return error_at(source_.at(a),
                      "invalid " + what + " name '" + name + "'; expected " + kNameRule);
    }
    if (auto it = names.find(name); it != names.end()) {
      return error_at(source_.at(a), "duplicate " + what + " name '" + name + "', first used at " +
                                         it->second.to_string() +
                                         "; expected names unique within their module");
    }
    return name;
  }

  Status module(pugi::xml_node e, const Context& ctx, Scope* scope, int depth,
                std::vector<Node>* out) {
    PCACHE_RETURN_IF_ERROR(source_.check_attributes(e, {"name", "cache", "src"}, "<module>"));
    Node n;
    n.kind = Node::Kind::kModule;
    n.location = source_.at(e);
    if (++modules_ > kMaxModules) {
      return error_at(n.location, "more than " + std::to_string(kMaxModules) +
                                      " modules in one schema; expected fewer (split the schema)");
    }
    PCACHE_ASSIGN_OR_RETURN(n.name, name_of(e, "module", scope->modules));
    if (role_of(n.name.c_str()) != Role::kNone) {
      return error_at(source_.at(e.attribute("name")),
                      "module name '" + n.name +
                          "' is reserved: prompts use <system>, <user> and <assistant> for "
                          "turns; expected another name");
    }
    scope->modules[n.name] = n.location;
    if (pugi::xml_attribute cache = e.attribute("cache")) {
      const std::string v = cache.value();
      if (v != "true" && v != "false") {
        return error_at(source_.at(cache), "cache=\"" + v + "\" on <module> '" + n.name +
                                               "'; expected \"true\" or \"false\"");
      }
      n.cached = v == "true";
    }
    if (pugi::xml_attribute src = e.attribute("src")) {
      PCACHE_RETURN_IF_ERROR(module_from_file(e, src, &n));
    } else {
      Context inner;
      inner.place = Place::kModule;
      inner.in_module = true;
      inner.role = ctx.role;
      inner.parent = "<module> '" + n.name + "'";
      Scope own;
      PCACHE_RETURN_IF_ERROR(children(e, inner, &own, depth, &n.children));
    }
    out->push_back(std::move(n));
    return Status::ok_status();
  }

  // The file a src names, if files_ allows it to be read.
  StatusOr<std::string> resolve_src(pugi::xml_attribute src, const std::string& module) const {
    const std::string path = src.value();
    const std::string what = "src=" + excerpt(path) + " of <module> '" + module + "'";
    const std::string allow =
        " (EngineOptions::allow_src_outside allows this for a trusted schema)";
    using Access = SourceFiles::Access;
    if (files_.access == Access::kNone) {
      return error_at(source_.at(src), what + ": this schema may not read files; expected the "
                                              "module's text inline");
    }
    const std::string resolved = (path[0] == '/') ? path : files_.base_dir + path;
    if (files_.access == Access::kAnywhere) return resolved;
    if (path[0] == '/') {
      return error_at(source_.at(src),
                      what + " is an absolute path; expected a path inside the schema's folder" +
                          allow);
    }
    for (size_t start = 0; start <= path.size();) {
      size_t end = path.find('/', start);
      if (end == std::string::npos) end = path.size();
      if (path.compare(start, end - start, "..") == 0) {
        return error_at(source_.at(src),
                        what + " goes up with '..'; expected a path inside the schema's folder" +
                            allow);
      }
      start = end + 1;
    }
    // A symbolic link may still lead out: compare the real paths.
    const std::string base = files_.base_dir.empty() ? "." : files_.base_dir;
    char real_base[PATH_MAX], real_file[PATH_MAX];
    if (::realpath(base.c_str(), real_base) != nullptr &&
        ::realpath(resolved.c_str(), real_file) != nullptr) {
      const std::string b = std::string(real_base) + (real_base[1] == '\0' ? "" : "/");
      if (std::string(real_file).compare(0, b.size(), b) != 0) {
        return error_at(source_.at(src), what + " leads out of the schema's folder (to " +
                                             excerpt(real_file, 200) +
                                             ") through a symbolic link" + allow);
      }
    }
    return resolved;  // a path that does not resolve fails in the read, with its reason
  }

  // <module src="file">: the file's text, trimmed, is the module's only content.
  Status module_from_file(pugi::xml_node e, pugi::xml_attribute src, Node* n) {
    const std::string path = src.value();
    if (path.empty()) {
      return error_at(source_.at(src),
                      "empty src on <module> '" + n->name + "'; expected the path of a text file");
    }
    // Content beside src would be ambiguous (before? after?), so it is refused.
    auto on_text = [&](const TextRun& run) -> Status {
      if (run.text.empty()) return Status::ok_status();
      return error_at(run.location, "<module> '" + n->name + "' has src=\"" + path +
                                        "\" and text of its own; expected one or the other");
    };
    auto on_element = [&](pugi::xml_node child) -> Status {
      return error_at(source_.at(child), "<module> '" + n->name + "' has src=\"" + path +
                                             "\" and a <" + child.name() +
                                             "> inside; expected one or the other");
    };
    PCACHE_RETURN_IF_ERROR(source_.for_each_child(e, on_text, on_element));
    PCACHE_ASSIGN_OR_RETURN(const std::string resolved, resolve_src(src, n->name));
    auto content = read_source_file(resolved);
    if (!content.ok()) {
      return error_at(source_.at(src), "cannot read src of <module> '" + n->name +
                                           "': " + content.status().message() +
                                           "; expected a readable text file");
    }
    size_t first = 0;
    while (first < content->size() && is_space((*content)[first])) ++first;
    std::string text = trim(*content);
    if (text.empty()) return Status::ok_status();
    Node t;
    t.kind = Node::Kind::kText;
    t.location = LineIndex(*content, resolved).at(first);
    t.text = std::move(text);
    n->children.push_back(std::move(t));
    return Status::ok_status();
  }

  Status union_of(pugi::xml_node e, const Context& ctx, Scope* scope, int depth,
                  std::vector<Node>* out) {
    PCACHE_RETURN_IF_ERROR(source_.check_attributes(e, {"scaffold"}, "<union>"));
    Node n;
    n.kind = Node::Kind::kUnion;
    n.location = source_.at(e);
    Context inner = ctx;
    inner.place = Place::kUnion;
    inner.parent = "<union>";
    // Members share the scope of the module around the union: the union has no
    // name, a prompt picks a member by its own name.
    PCACHE_RETURN_IF_ERROR(children(e, inner, scope, depth, &n.children));
    if (n.children.empty()) {
      return error_at(n.location, "empty <union>; expected at least one <module> member");
    }
    std::string members;
    for (const Node& m : n.children) members += (members.empty() ? "" : ", ") + m.name;
    n.scaffold = n.children.front().name;
    if (pugi::xml_attribute s = e.attribute("scaffold")) {
      const std::string want = s.value();
      bool found = false;
      for (const Node& m : n.children) found = found || m.name == want;
      if (!found) {
        return error_at(source_.at(s), "union scaffold '" + want +
                                           "' is not a member; expected one of: " + members);
      }
      n.scaffold = want;
    }
    out->push_back(std::move(n));
    return Status::ok_status();
  }

  Status parameter(pugi::xml_node e, Scope* scope, std::vector<Node>* out) {
    PCACHE_RETURN_IF_ERROR(
        source_.check_attributes(e, {"name", "length", "scaffold"}, "<parameter>"));
    Node n;
    n.kind = Node::Kind::kParameter;
    n.location = source_.at(e);
    PCACHE_ASSIGN_OR_RETURN(n.name, name_of(e, "parameter", scope->parameters));
    pugi::xml_attribute length = e.attribute("length");
    if (!length) {
      return error_at(n.location, "<parameter> '" + n.name +
                                      "' has no length; expected length=\"N\" (1 to " +
                                      std::to_string(kMaxParameterLength) + ")");
    }
    const std::string v = length.value();
    long value = 0;
    bool ok = !v.empty() && v.size() <= 6;
    for (char c : v) ok = ok && c >= '0' && c <= '9';
    if (ok) value = std::stol(v);
    if (!ok || value < 1 || value > kMaxParameterLength) {
      return error_at(source_.at(length), "length=" + excerpt(v) + " on <parameter> '" + n.name +
                                              "'; expected an integer from 1 to " +
                                              std::to_string(kMaxParameterLength));
    }
    n.length = static_cast<int>(value);
    n.scaffold = e.attribute("scaffold").value();
    auto on_text = [&](const TextRun& run) -> Status {
      if (run.text.empty()) return Status::ok_status();
      return error_at(run.location, "text inside <parameter> '" + n.name +
                                        "'; expected an empty element <parameter .../>");
    };
    auto on_element = [&](pugi::xml_node child) -> Status {
      return error_at(source_.at(child), "<" + std::string(child.name()) +
                                             "> inside <parameter> '" + n.name +
                                             "'; expected an empty element <parameter .../>");
    };
    PCACHE_RETURN_IF_ERROR(source_.for_each_child(e, on_text, on_element));
    scope->parameters[n.name] = n.location;
    out->push_back(std::move(n));
    return Status::ok_status();
  }

  Status role_tag(pugi::xml_node e, Role role, const Context& ctx, Scope* scope, int depth,
                  std::vector<Node>* out) {
    const std::string tag = std::string("<") + role_name(role) + ">";
    PCACHE_RETURN_IF_ERROR(source_.check_attributes(e, {}, tag));
    Node n;
    n.kind = Node::Kind::kRole;
    n.location = source_.at(e);
    n.role = role;
    Context inner = ctx;
    inner.role = role;
    inner.parent = tag;
    // Transparent for naming: what is inside belongs to the module around.
    PCACHE_RETURN_IF_ERROR(children(e, inner, scope, depth, &n.children));
    out->push_back(std::move(n));
    return Status::ok_status();
  }

  const std::string& text_;
  XmlSource source_;
  SourceFiles files_;
  int modules_ = 0;  // parsed so far
};

}  // namespace

StatusOr<Schema> parse_schema_in(const std::string& text, const std::string& file_name,
                                 const SourceFiles& files) {
  SchemaParser parser(text, file_name, files);
  return parser.parse();
}

}  // namespace pcache::pml
