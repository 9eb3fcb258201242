// parse_prompt: XML -> Prompt. Module names and arguments are only checked
// against a schema by bind().
#include <set>
#include <string>

#include "pml/xml_source.h"

namespace pcache::pml {
namespace {

class PromptParser {
 public:
  PromptParser(const std::string& text, const std::string& file) : source_(text, file) {}

  StatusOr<Prompt> parse() {
    PCACHE_ASSIGN_OR_RETURN(pugi::xml_node root, source_.parse("<prompt schema=\"...\">"));
    Prompt prompt;
    prompt.location = source_.at(root);
    if (std::string(root.name()) != "prompt") {
      return error_at(prompt.location, "root element is <" + std::string(root.name()) +
                                           ">; expected <prompt schema=\"...\">");
    }
    PCACHE_RETURN_IF_ERROR(source_.check_attributes(root, {"schema"}, "<prompt>"));
    pugi::xml_attribute schema = root.attribute("schema");
    if (!schema || std::string(schema.value()).empty()) {
      return error_at(prompt.location,
                      "<prompt> names no schema; expected <prompt schema=\"NAME\">");
    }
    prompt.schema = schema.value();

    // Imports first, then the new text (turns): once text is seen, no import.
    auto on_text = [&](const TextRun& run) -> Status {
      if (run.text.empty()) return Status::ok_status();
      prompt.turns.push_back(Turn{Role::kNone, run.text, run.location});
      return Status::ok_status();
    };
    auto on_element = [&](pugi::xml_node e) -> Status {
      if (Role role = role_of(e.name()); role != Role::kNone) {
        PCACHE_ASSIGN_OR_RETURN(Turn turn, this->turn(e, role));
        prompt.turns.push_back(std::move(turn));
        return Status::ok_status();
      }
      if (!prompt.turns.empty()) {
        const Turn& first = prompt.turns.front();
        return error_at(source_.at(e), "module import <" + std::string(e.name()) +
                                           "> after the new text (" + describe(first) + " at " +
                                           first.location.to_string() +
                                           "); expected module imports before the new text");
      }
      PCACHE_ASSIGN_OR_RETURN(ModuleRef ref, import(e, 2));
      prompt.imports.push_back(std::move(ref));
      return Status::ok_status();
    };
    PCACHE_RETURN_IF_ERROR(source_.for_each_child(root, on_text, on_element));
    return prompt;
  }

 private:
  static std::string describe(const Turn& turn) {
    if (turn.role == Role::kNone) return "text";
    return std::string("<") + role_name(turn.role) + ">";
  }

  // <user>...</user>: text only, trimmed; may be empty (the turn's template
  // tokens still count).
  StatusOr<Turn> turn(pugi::xml_node e, Role role) {
    const std::string tag = std::string("<") + role_name(role) + ">";
    PCACHE_RETURN_IF_ERROR(source_.check_attributes(e, {}, tag));
    Turn t;
    t.role = role;
    t.location = source_.at(e);
    auto on_text = [&](const TextRun& run) -> Status {
      t.text = run.text;  // one run at most: any element inside is an error
      return Status::ok_status();
    };
    auto on_element = [&](pugi::xml_node child) -> Status {
      return error_at(source_.at(child), "<" + std::string(child.name()) + "> inside " + tag +
                                             "; expected text only (write &lt; for a "
                                             "literal '<')");
    };
    PCACHE_RETURN_IF_ERROR(source_.for_each_child(e, on_text, on_element));
    return t;
  }

  // <menu day="Tuesday"><specials/></menu>: attributes are arguments, child
  // elements nested imports.
  StatusOr<ModuleRef> import(pugi::xml_node e, int depth) {
    ModuleRef ref;
    ref.name = e.name();
    ref.location = source_.at(e);
    if (depth > kMaxDepth) {
      return error_at(ref.location, "elements nest deeper than " + std::to_string(kMaxDepth) +
                                        " levels; expected a flatter prompt");
    }
    std::set<std::string> seen;
    for (pugi::xml_attribute a : e.attributes()) {
      if (!seen.insert(a.name()).second) {
        return error_at(source_.at(a), "duplicate attribute '" + std::string(a.name()) +
                                           "' on module import <" + ref.name +
                                           ">; expected each parameter at most once");
      }
      ref.arguments[a.name()] = a.value();
    }
    auto on_text = [&](const TextRun& run) -> Status {
      if (run.text.empty()) return Status::ok_status();
      return error_at(run.location, "text inside module import <" + ref.name +
                                        ">; expected only nested module imports (parameter "
                                        "values go in attributes, new text after the imports)");
    };
    auto on_element = [&](pugi::xml_node child) -> Status {
      if (Role role = role_of(child.name()); role != Role::kNone) {
        return error_at(source_.at(child), std::string("<") + role_name(role) +
                                               "> inside module import <" + ref.name +
                                               ">; expected turns at the top level of <prompt>, "
                                               "after the imports");
      }
      PCACHE_ASSIGN_OR_RETURN(ModuleRef nested, import(child, depth + 1));
      ref.children.push_back(std::move(nested));
      return Status::ok_status();
    };
    PCACHE_RETURN_IF_ERROR(source_.for_each_child(e, on_text, on_element));
    return ref;
  }

  XmlSource source_;
};

}  // namespace

StatusOr<Prompt> parse_prompt_text(const std::string& text, const std::string& file_name) {
  PromptParser parser(text, file_name);
  return parser.parse();
}

}  // namespace pcache::pml
