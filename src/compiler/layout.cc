#include "compiler/layout.h"

#include <algorithm>

#include "tokenizer/chat_turns.h"

namespace pcache {
namespace {

class LayoutBuilder {
 public:
  LayoutBuilder(const Tokenizer& tokenizer, ChatTemplate chat_template)
      : tokenizer_(tokenizer), template_(chat_template) {}

  StatusOr<Layout> build(const pml::Schema& schema) {
    ModuleLayout root;
    layout_.modules.push_back(std::move(root));
    layout_.by_path[""] = 0;
    int64_t end = 0;
    add_text(0, tokenizer_.bos_ids(), &end);
    PCACHE_RETURN_IF_ERROR(walk(schema.children, 0, &end));
    layout_.modules[0].end = end;
    layout_.total_length = end;
    return std::move(layout_);
  }

 private:
  void add_text(int module, const std::vector<int>& tokens, int64_t* offset) {
    if (tokens.empty()) return;
    layout_.modules[module].segments.push_back(
        Segment{*offset, static_cast<int64_t>(tokens.size()), tokens, ""});
    *offset += static_cast<int64_t>(tokens.size());
  }

  // Lays out `nodes` inside module `module` from *offset on.
  Status walk(const std::vector<pml::Node>& nodes, int module, int64_t* offset) {
    for (const pml::Node& n : nodes) {
      switch (n.kind) {
        case pml::Node::Kind::kText:
          add_text(module, tokenizer_.encode(n.text), offset);
          break;
        case pml::Node::Kind::kRole: {
          PCACHE_ASSIGN_OR_RETURN(RoleTokens wrap, role_tokens(tokenizer_, template_, n.role));
          add_text(module, wrap.before, offset);
          PCACHE_RETURN_IF_ERROR(walk(n.children, module, offset));
          add_text(module, wrap.after, offset);
          break;
        }
        case pml::Node::Kind::kParameter: {
          std::vector<int> placeholder(n.length, tokenizer_.unk_id());
          if (!n.scaffold.empty()) placeholder = tokenizer_.encode(n.scaffold);
          if (static_cast<int>(placeholder.size()) > n.length) {
            return Status::invalid_argument(n.location.to_string() + ": scaffold of parameter '" +
                                            n.name + "' has " + std::to_string(placeholder.size()) +
                                            " tokens, more than its length " +
                                            std::to_string(n.length));
          }
          layout_.modules[module].segments.push_back(Segment{*offset, n.length, placeholder, n.name});
          *offset += n.length;
          break;
        }
        case pml::Node::Kind::kModule: {
          PCACHE_ASSIGN_OR_RETURN(int child, add_module(n, module, -1, *offset));
          *offset = layout_.modules[child].end;
          break;
        }
        case pml::Node::Kind::kUnion: {
          UnionLayout u;
          u.parent = module;
          u.start = *offset;
          const int index = static_cast<int>(layout_.unions.size());
          layout_.unions.push_back(u);
          int64_t longest = 0;
          for (const pml::Node& member : n.children) {
            PCACHE_ASSIGN_OR_RETURN(int m, add_module(member, module, index, u.start));
            layout_.unions[index].members.push_back(m);
            if (member.name == n.scaffold) layout_.unions[index].scaffold = m;
            longest = std::max(longest, layout_.modules[m].end - u.start);
          }
          if (layout_.unions[index].scaffold < 0) layout_.unions[index].scaffold = layout_.unions[index].members.at(0);
          layout_.unions[index].length = longest;
          *offset = u.start + longest;
          break;
        }
      }
    }
    return Status::ok_status();
  }

  StatusOr<int> add_module(const pml::Node& n, int parent, int union_index, int64_t start) {
    ModuleLayout m;
    const std::string& parent_path = layout_.modules[parent].path;
    m.path = parent_path.empty() ? n.name : parent_path + "/" + n.name;
    m.node = &n;
    m.cached = n.cached;
    m.parent = parent;
    m.union_index = union_index;
    m.start = start;
    const int index = static_cast<int>(layout_.modules.size());
    layout_.modules.push_back(std::move(m));
    layout_.modules[parent].children.push_back(index);
    layout_.by_path[layout_.modules[index].path] = index;
    int64_t offset = start;
    PCACHE_RETURN_IF_ERROR(walk(n.children, index, &offset));
    layout_.modules[index].end = offset;
    return index;
  }

  const Tokenizer& tokenizer_;
  ChatTemplate template_;
  Layout layout_;
};

}  // namespace

int64_t ModuleLayout::token_count() const {
  int64_t n = 0;
  for (const Segment& s : segments) {
    if (!s.is_parameter()) n += static_cast<int64_t>(s.tokens.size());
  }
  return n;
}

bool Layout::on_default_path(int m) const {
  for (; m > 0; m = modules[m].parent) {
    const int u = modules[m].union_index;
    if (u >= 0 && unions[u].scaffold != m) return false;
  }
  return true;
}

StatusOr<RoleTokens> role_tokens(const Tokenizer& tokenizer, ChatTemplate chat_template,
                                 pml::Role role) {
  RoleTokens r;
  if (chat_template == ChatTemplate::kLlama3 || chat_template == ChatTemplate::kChatml) {
    // Whole messages, as ChatTurns writes them: the role's header before, the
    // end of the message after.
    const char* name = role == pml::Role::kSystem ? "system"
                       : role == pml::Role::kUser ? "user"
                                                  : "assistant";
    ChatTurns turns(tokenizer, chat_template);
    PCACHE_ASSIGN_OR_RETURN(r.before, turns.message_start(name));
    PCACHE_ASSIGN_OR_RETURN(r.after, turns.end_of_answer());
    return r;
  }
  if (role == pml::Role::kAssistant) {
    r.after = {tokenizer.eos_id()};
    return r;
  }
  if (chat_template == ChatTemplate::kMistral) {
    auto inst = tokenizer.piece_to_id("[INST]"), end = tokenizer.piece_to_id("[/INST]");
    if (!inst || !end) {
      return Status::invalid_argument("the tokenizer has no [INST] control token: use the llama2 chat template");
    }
    r.before = {*inst};
    r.after = {*end};
    return r;
  }
  if (role == pml::Role::kSystem) {
    r.before = tokenizer.encode("<<SYS>>\n");
    r.after = tokenizer.encode("\n<</SYS>>");
  } else {
    r.before = tokenizer.encode("[INST]");
    r.after = tokenizer.encode("[/INST]");
  }
  return r;
}

StatusOr<Layout> build_layout(const pml::Schema& schema, const Tokenizer& tokenizer,
                              ChatTemplate chat_template) {
  return LayoutBuilder(tokenizer, chat_template).build(schema);
}

}  // namespace pcache
