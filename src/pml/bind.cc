// bind(): a prompt's imports checked against its schema.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "pml/xml_source.h"

namespace pcache::pml {
namespace {

// A module importable at one level: directly inside the level's module (or
// the root), through role tags and unions, which have no names of their own.
struct Choice {
  const Node* module = nullptr;
  const Node* in_union = nullptr;  // the union it is a member of, or null
};

void collect_level(const std::vector<Node>& nodes, const Node* in_union,
                   std::vector<std::pair<std::string, Choice>>* out) {
  for (const Node& n : nodes) {
    switch (n.kind) {
      case Node::Kind::kModule: out->push_back({n.name, Choice{&n, in_union}}); break;
      case Node::Kind::kRole: collect_level(n.children, in_union, out); break;
      case Node::Kind::kUnion: collect_level(n.children, &n, out); break;
      default: break;
    }
  }
}

// The parameters of one module (through its role tags, not its sub-modules).
void collect_parameters(const std::vector<Node>& nodes, std::vector<const Node*>* out) {
  for (const Node& n : nodes) {
    if (n.kind == Node::Kind::kParameter) out->push_back(&n);
    if (n.kind == Node::Kind::kRole) collect_parameters(n.children, out);
  }
}

std::string join_path(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "/" + name;
}

class Binder {
 public:
  explicit Binder(const Schema& schema) : schema_(schema) { index(schema.children, ""); }

  StatusOr<std::vector<Selection>> bind(const Prompt& prompt) {
    if (prompt.schema != schema_.name) {
      return error_at(prompt.location, "prompt is for schema '" + prompt.schema + "'; expected '" +
                                           schema_.name + "' (" + schema_.location.file + ")");
    }
    PCACHE_RETURN_IF_ERROR(level(schema_.children, "", prompt.imports));
    // Schema (pre-)order: parents before children, whatever the prompt's order.
    std::stable_sort(selections_.begin(), selections_.end(),
                     [&](const Selection& a, const Selection& b) {
                       return order_.at(a.module) < order_.at(b.module);
                     });
    return std::move(selections_);
  }

 private:
  // Numbers every module in document order and notes the paths of each name.
  void index(const std::vector<Node>& nodes, const std::string& parent) {
    for (const Node& n : nodes) {
      if (n.kind == Node::Kind::kModule) {
        const std::string path = join_path(parent, n.name);
        order_[&n] = static_cast<int>(order_.size());
        paths_by_name_[n.name].push_back(path);
        index(n.children, path);
      } else if (n.kind == Node::Kind::kRole || n.kind == Node::Kind::kUnion) {
        index(n.children, parent);
      }
    }
  }

  // Binds the imports made inside the module at `path` ("" the root), whose
  // content is `nodes`.
  Status level(const std::vector<Node>& nodes, const std::string& path,
               const std::vector<ModuleRef>& imports) {
    std::vector<std::pair<std::string, Choice>> choices;
    collect_level(nodes, nullptr, &choices);
    const std::map<std::string, Choice> by_name(choices.begin(), choices.end());
    std::map<const Node*, const ModuleRef*> taken;        // module -> its import
    std::map<const Node*, const ModuleRef*> union_taken;  // union -> the member's import
    for (const ModuleRef& ref : imports) {
      auto found = by_name.find(ref.name);
      if (found == by_name.end()) return unknown(ref, path, choices);
      const Choice* choice = &found->second;
      if (auto it = taken.find(choice->module); it != taken.end()) {
        return error_at(ref.location, "module '" + join_path(path, ref.name) +
                                          "' imported twice (first at " +
                                          it->second->location.to_string() +
                                          "); expected each module at most once");
      }
      taken[choice->module] = &ref;
      if (choice->in_union) {
        if (auto it = union_taken.find(choice->in_union); it != union_taken.end()) {
          return error_at(ref.location, "modules '" + it->second->name + "' (at " +
                                            it->second->location.to_string() + ") and '" +
                                            ref.name + "' are members of one union (" +
                                            choice->in_union->location.to_string() +
                                            "); expected at most one member of a union");
        }
        union_taken[choice->in_union] = &ref;
      }
      const std::string module_path = join_path(path, ref.name);
      PCACHE_RETURN_IF_ERROR(arguments(ref, *choice->module, module_path));
      selections_.push_back(Selection{module_path, choice->module, ref.arguments, ref.location});
      PCACHE_RETURN_IF_ERROR(level(choice->module->children, module_path, ref.children));
    }
    return Status::ok_status();
  }

  Status unknown(const ModuleRef& ref, const std::string& path,
                 const std::vector<std::pair<std::string, Choice>>& choices) const {
    const std::string where = path.empty() ? "at the top level of schema '" + schema_.name + "'"
                                           : "inside module '" + path + "'";
    // A module that exists deeper or elsewhere: say where it belongs.
    if (auto it = paths_by_name_.find(ref.name); it != paths_by_name_.end()) {
      std::string paths;
      for (const std::string& p : it->second) paths += (paths.empty() ? "'" : "', '") + p;
      return error_at(ref.location, "module '" + ref.name + "' cannot be imported " + where +
                                        ": it is " + paths +
                                        "'; expected it inside the import of its parent");
    }
    std::string names;
    for (const auto& [name, c] : choices) names += (names.empty() ? "" : ", ") + name;
    return error_at(ref.location,
                    "unknown module '" + ref.name + "' " + where + "; expected " +
                        (names.empty() ? std::string("no module here (it has no nested modules)")
                                       : "one of: " + names));
  }

  Status arguments(const ModuleRef& ref, const Node& module, const std::string& path) const {
    std::vector<const Node*> params;
    collect_parameters(module.children, &params);
    std::string names;
    for (const Node* p : params) names += (names.empty() ? "" : ", ") + p->name;
    for (const auto& [name, value] : ref.arguments) {
      bool known = false;
      for (const Node* p : params) known = known || p->name == name;
      if (!known) {
        return error_at(ref.location,
                        "module '" + path + "' has no parameter '" + name + "'; expected " +
                            (names.empty() ? std::string("no attributes (it has no parameters)")
                                           : "its parameters: " + names));
      }
    }
    for (const Node* p : params) {
      if (ref.arguments.count(p->name) == 0) {
        return error_at(ref.location, "module '" + path + "' is missing parameter '" + p->name +
                                          "' (declared at " + p->location.to_string() +
                                          "); expected <" + ref.name + " " + p->name + "=\"...\">");
      }
    }
    return Status::ok_status();
  }

  const Schema& schema_;
  std::map<const Node*, int> order_;
  std::map<std::string, std::vector<std::string>> paths_by_name_;
  std::vector<Selection> selections_;
};

}  // namespace

StatusOr<std::vector<Selection>> bind(const Schema& schema, const Prompt& prompt) {
  Binder binder(schema);
  return binder.bind(prompt);
}

}  // namespace pcache::pml
