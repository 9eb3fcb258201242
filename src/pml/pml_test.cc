#include "pml/pml.h"

#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>

#include "testing.h"

namespace pcache::pml {
namespace {

Schema schema_ok(const std::string& text, const std::string& file = "s.xml") {
  auto s = parse_schema(text, file);
  BOOST_REQUIRE_MESSAGE(s.ok(), s.status().to_string());
  return std::move(s).value();
}

Prompt prompt_ok(const std::string& text) {
  auto p = parse_prompt(text, "p.xml");
  BOOST_REQUIRE_MESSAGE(p.ok(), p.status().to_string());
  return std::move(p).value();
}

std::string schema_error(const std::string& text) {
  auto s = parse_schema(text, "s.xml");
  BOOST_REQUIRE_MESSAGE(!s.ok(), "parsed, but expected an error:\n" + text);
  BOOST_TEST(s.status().code() == StatusCode::kInvalidArgument);
  return s.status().message();
}

std::string prompt_error(const std::string& text) {
  auto p = parse_prompt(text, "p.xml");
  BOOST_REQUIRE_MESSAGE(!p.ok(), "parsed, but expected an error:\n" + text);
  BOOST_TEST(p.status().code() == StatusCode::kInvalidArgument);
  return p.status().message();
}

void check_at(const SourceLocation& loc, const std::string& file, int line, int column) {
  BOOST_TEST(loc.file == file);
  BOOST_TEST(loc.line == line);
  BOOST_TEST(loc.column == column);
}

void write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  BOOST_REQUIRE(out.good());
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

#define CHECK_CONTAINS(s, part) \
  BOOST_TEST(contains(s, part), "'" << (s) << "' lacks '" << (part) << "'")

const char* kRestaurant = R"(<schema name="restaurant">
  <system>You help   diners.</system>
  <union>
    <module name="bistro">Bistro Lune</module>
    <module name="trattoria" cache="false">Trattoria
      <module name="menu">Today: <parameter name="day" length="8" scaffold="Monday"/>.</module>
    </module>
  </union>
  Tail text
</schema>)";

}  // namespace

BOOST_AUTO_TEST_SUITE(pml_test)

BOOST_AUTO_TEST_CASE(names) {
  BOOST_TEST(std::string(role_name(Role::kNone)) == "");
  BOOST_TEST(std::string(role_name(Role::kSystem)) == "system");
  BOOST_TEST(std::string(role_name(Role::kUser)) == "user");
  BOOST_TEST(std::string(role_name(Role::kAssistant)) == "assistant");
  BOOST_TEST(std::string(encoding_mode_name(EncodingMode::kIndependent)) == "independent");
  BOOST_TEST(std::string(encoding_mode_name(EncodingMode::kScaffold)) == "scaffold");
  BOOST_TEST((SourceLocation{"a.xml", 3, 14}.to_string()) == "a.xml:3:14");
}

BOOST_AUTO_TEST_CASE(schema_structure_and_locations) {
  Schema s = schema_ok(kRestaurant);
  BOOST_TEST(s.name == "restaurant");
  BOOST_TEST((s.mode == EncodingMode::kScaffold));
  BOOST_TEST(!s.mode_given);
  BOOST_TEST(s.source == kRestaurant);
  check_at(s.location, "s.xml", 1, 1);
  BOOST_REQUIRE(s.children.size() == 3u);

  const Node& system = s.children[0];
  BOOST_TEST((system.kind == Node::Kind::kRole));
  BOOST_TEST((system.role == Role::kSystem));
  check_at(system.location, "s.xml", 2, 3);
  BOOST_REQUIRE(system.children.size() == 1u);
  BOOST_TEST(system.children[0].text == "You help   diners.");  // inner spaces kept
  check_at(system.children[0].location, "s.xml", 2, 11);

  const Node& u = s.children[1];
  BOOST_TEST((u.kind == Node::Kind::kUnion));
  check_at(u.location, "s.xml", 3, 3);
  BOOST_TEST(u.scaffold == "bistro");  // the first member by default
  BOOST_REQUIRE(u.children.size() == 2u);

  const Node& bistro = u.children[0];
  BOOST_TEST((bistro.kind == Node::Kind::kModule));
  BOOST_TEST(bistro.name == "bistro");
  BOOST_TEST(bistro.cached);
  check_at(bistro.location, "s.xml", 4, 5);
  BOOST_REQUIRE(bistro.children.size() == 1u);
  BOOST_TEST(bistro.children[0].text == "Bistro Lune");
  check_at(bistro.children[0].location, "s.xml", 4, 27);

  const Node& trattoria = u.children[1];
  BOOST_TEST(trattoria.name == "trattoria");
  BOOST_TEST(!trattoria.cached);
  BOOST_REQUIRE(trattoria.children.size() == 2u);  // the blank run after <menu> is dropped
  BOOST_TEST(trattoria.children[0].text == "Trattoria");
  check_at(trattoria.children[0].location, "s.xml", 5, 44);

  const Node& menu = trattoria.children[1];
  BOOST_TEST(menu.name == "menu");
  check_at(menu.location, "s.xml", 6, 7);
  BOOST_REQUIRE(menu.children.size() == 3u);
  BOOST_TEST(menu.children[0].text == "Today:");  // trimmed on both sides
  const Node& day = menu.children[1];
  BOOST_TEST((day.kind == Node::Kind::kParameter));
  BOOST_TEST(day.name == "day");
  BOOST_TEST(day.length == 8);
  BOOST_TEST(day.scaffold == "Monday");
  check_at(day.location, "s.xml", 6, 34);
  BOOST_TEST(menu.children[2].text == ".");

  BOOST_TEST((s.children[2].kind == Node::Kind::kText));
  BOOST_TEST(s.children[2].text == "Tail text");
  check_at(s.children[2].location, "s.xml", 9, 3);
}

BOOST_AUTO_TEST_CASE(text_runs) {
  // Entities decoded, CDATA and text joined into one run, comments dropped.
  Schema s =
      schema_ok("<schema name=\"s\">  a &lt;b&gt;  <![CDATA[<c>]]> <!-- note --> d  </schema>");
  BOOST_REQUIRE(s.children.size() == 1u);
  BOOST_TEST(s.children[0].text == "a <b>  <c>  d");
  check_at(s.children[0].location, "s.xml", 1, 20);
  // Inner newlines are kept; whitespace-only runs vanish.
  s = schema_ok("<schema name=\"s\">\n  one\n  two\n  <module name=\"m\">  </module>\n</schema>");
  BOOST_REQUIRE(s.children.size() == 2u);
  BOOST_TEST(s.children[0].text == "one\n  two");
  check_at(s.children[0].location, "s.xml", 2, 3);
  BOOST_TEST(s.children[1].children.empty());
  // An XML declaration and a byte order mark are fine.
  s = schema_ok(
      "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<schema name=\"s\">x</schema>");
  BOOST_TEST(s.children[0].text == "x");
  check_at(s.location, "s.xml", 2, 1);
}

BOOST_AUTO_TEST_CASE(columns_count_characters_and_lines_any_ending) {
  Schema s = schema_ok(
      "<schema name=\"s\">\r\n  <module name=\"m\">\xC3\xA9 <parameter name=\"p\" length=\"2\"/>"
      "</module>\r\n\r<module name=\"n\"/></schema>");
  BOOST_REQUIRE(s.children.size() == 2u);
  const Node& m = s.children[0];
  check_at(m.location, "s.xml", 2, 3);
  BOOST_TEST(m.children[0].text == "\xC3\xA9");
  check_at(m.children[1].location, "s.xml", 2, 22);  // é is one column
  check_at(s.children[1].location, "s.xml", 4, 1);   // "\r\n", then a lone "\r"
}

BOOST_AUTO_TEST_CASE(mode_attribute) {
  Schema s = schema_ok("<schema name=\"s\" mode=\"independent\"/>");
  BOOST_TEST((s.mode == EncodingMode::kIndependent));
  BOOST_TEST(s.mode_given);
  s = schema_ok("<schema name=\"s\" mode=\"scaffold\"/>");
  BOOST_TEST((s.mode == EncodingMode::kScaffold));
  BOOST_TEST(s.mode_given);
  CHECK_CONTAINS(schema_error("<schema name=\"s\" mode=\"fast\"/>"),
                 "s.xml:1:18: mode=\"fast\" on <schema>; expected \"independent\" or \"scaffold\"");
}

BOOST_AUTO_TEST_CASE(union_scaffold) {
  Schema s = schema_ok(
      "<schema name=\"s\"><module name=\"top\"><union scaffold=\"b\">"
      "<module name=\"a\">A</module> <module name=\"b\">B</module></union></module></schema>");
  const Node& u = s.children[0].children[0];
  BOOST_TEST((u.kind == Node::Kind::kUnion));
  BOOST_TEST(u.scaffold == "b");
  BOOST_REQUIRE(u.children.size() == 2u);
  BOOST_TEST(u.children[1].children[0].text == "B");
}

BOOST_AUTO_TEST_CASE(roles_are_transparent) {
  // A parameter in a role tag inside a module; a module in a role tag at the root.
  Schema s = schema_ok(
      "<schema name=\"s\"><system><module name=\"policy\">P</module></system>"
      "<module name=\"m\"><user>Hi <parameter name=\"who\" length=\"3\"/></user>"
      "<assistant>Hello</assistant></module></schema>");
  BOOST_TEST(s.children[0].children[0].name == "policy");
  const Node& user = s.children[1].children[0];
  BOOST_TEST((user.role == Role::kUser));
  BOOST_TEST(user.children[1].name == "who");
  BOOST_TEST((s.children[1].children[1].role == Role::kAssistant));
  // Names are unique through role tags and unions.
  CHECK_CONTAINS(schema_error("<schema name=\"s\"><module name=\"a\"/><system><union>"
                              "<module name=\"a\"/></union></system></schema>"),
                 "s.xml:1:59: duplicate module name 'a', first used at s.xml:1:18");
  CHECK_CONTAINS(schema_error("<schema name=\"s\"><module name=\"m\"><parameter name=\"p\" "
                              "length=\"1\"/><user><parameter name=\"p\" length=\"1\"/></user>"
                              "</module></schema>"),
                 "duplicate parameter name 'p'");
  // The same name in different modules is fine.
  schema_ok(
      "<schema name=\"s\"><module name=\"a\"><module name=\"x\"/></module>"
      "<module name=\"b\"><module name=\"x\"/></module></schema>");
}

BOOST_AUTO_TEST_CASE(load_schema_with_src) {
  testing::TempDir dir;
  std::filesystem::create_directory(dir.path + "/docs");
  write(dir.path + "/docs/intro.txt", "\n  Welcome to\n  the guide.  \n");
  write(dir.path + "/schema.xml",
        "<schema name=\"s\">\n  <module name=\"intro\" src=\"docs/intro.txt\">\n  </module>\n"
        "  <module name=\"abs\" src=\"" +
            dir.path + "/docs/intro.txt\"/>\n</schema>\n");
  auto s = load_schema(dir.path + "/schema.xml", SourceFiles::Access::kAnywhere);
  BOOST_REQUIRE_MESSAGE(s.ok(), s.status().to_string());
  check_at(s->location, dir.path + "/schema.xml", 1, 1);
  const Node& intro = s->children[0];
  BOOST_REQUIRE(intro.children.size() == 1u);
  BOOST_TEST(intro.children[0].text == "Welcome to\n  the guide.");
  check_at(intro.children[0].location, dir.path + "/docs/intro.txt", 2, 3);
  BOOST_TEST(s->children[1].children[0].text == "Welcome to\n  the guide.");
  BOOST_TEST(!contains(s->source, "Welcome"));  // the schema's own text

  // From a string, src is relative to the current directory; an absolute
  // path needs Access::kAnywhere.
  auto t = parse_schema("<schema name=\"s\"><module name=\"m\" src=\"" + dir.path +
                            "/docs/intro.txt\"/></schema>",
                        "s.xml", {"", SourceFiles::Access::kAnywhere});
  BOOST_REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  BOOST_TEST(t->children[0].children[0].text == "Welcome to\n  the guide.");

  write(dir.path + "/missing.xml",
        "<schema name=\"s\">\n  <module name=\"m\" src=\"nope.txt\"/>\n</schema>");
  auto m = load_schema(dir.path + "/missing.xml");
  BOOST_REQUIRE(!m.ok());
  BOOST_TEST(m.status().code() == StatusCode::kInvalidArgument);
  CHECK_CONTAINS(m.status().message(),
                 dir.path + "/missing.xml:2:20: cannot read src of <module> 'm'");
  CHECK_CONTAINS(m.status().message(), dir.path + "/nope.txt");

  auto none = load_schema(dir.path + "/absent.xml");
  BOOST_TEST(none.status().code() == StatusCode::kNotFound);
  CHECK_CONTAINS(none.status().message(), "absent.xml");
  BOOST_TEST(load_schema(dir.path).status().code() == StatusCode::kIoError);
}

BOOST_AUTO_TEST_CASE(src_stays_inside_the_schemas_folder_unless_allowed) {
  testing::TempDir dir;
  std::filesystem::create_directory(dir.path + "/schemas");
  std::filesystem::create_directory(dir.path + "/schemas/docs");
  write(dir.path + "/schemas/docs/ok.txt", "inside");
  write(dir.path + "/outside.txt", "outside");
  std::filesystem::create_symlink(dir.path + "/outside.txt", dir.path + "/schemas/docs/link.txt");
  auto schema_with = [&](const std::string& src) {
    const std::string path = dir.path + "/schemas/s.xml";
    write(path, "<schema name=\"s\">\n<module name=\"m\" src=\"" + src + "\"/></schema>");
    return path;
  };
  auto ok = load_schema(schema_with("docs/ok.txt"));
  BOOST_REQUIRE_MESSAGE(ok.ok(), ok.status().to_string());
  BOOST_TEST(ok->children[0].children[0].text == "inside");
  BOOST_TEST(load_schema(schema_with("./docs/../docs/ok.txt")).status().message().find(
                 "goes up with '..'") != std::string::npos);

  const std::string s = dir.path + "/schemas/s.xml";
  for (const char* src : {"/etc/passwd", "/proc/self/environ"}) {
    auto r = load_schema(schema_with(src));
    BOOST_REQUIRE(!r.ok());
    CHECK_CONTAINS(r.status().message(), s + ":2:18: src=\"" + src +
                                             "\" of <module> 'm' is an absolute path");
  }
  CHECK_CONTAINS(load_schema(schema_with("../outside.txt")).status().message(),
                 "src=\"../outside.txt\" of <module> 'm' goes up with '..'");
  CHECK_CONTAINS(load_schema(schema_with("docs/link.txt")).status().message(),
                 "leads out of the schema's folder");
  // Allowed: the same paths read.
  auto any = load_schema(schema_with("../outside.txt"), SourceFiles::Access::kAnywhere);
  BOOST_REQUIRE_MESSAGE(any.ok(), any.status().to_string());
  BOOST_TEST(any->children[0].children[0].text == "outside");
  // A schema that may read no files (text sent by a client).
  auto none = parse_schema("<schema name=\"s\"><module name=\"m\" src=\"a.txt\"/></schema>", "s.xml",
                           {"", SourceFiles::Access::kNone});
  CHECK_CONTAINS(none.status().message(), "this schema may not read files");
  // Special files are refused at once, never waited on or read without end.
  BOOST_REQUIRE(::mkfifo((dir.path + "/schemas/docs/fifo").c_str(), 0600) == 0);
  CHECK_CONTAINS(load_schema(schema_with("docs/fifo")).status().message(),
                 "is a FIFO, not a regular file");
  CHECK_CONTAINS(load_schema(schema_with("/dev/zero"), SourceFiles::Access::kAnywhere)
                     .status()
                     .message(),
                 "is a character device, not a regular file");
}

BOOST_AUTO_TEST_CASE(limits) {
  auto nested = [](int modules) {
    std::string s = "<schema name=\"s\">";
    for (int i = 0; i < modules; ++i) s += "<module name=\"m" + std::to_string(i) + "\">";
    for (int i = 0; i < modules; ++i) s += "</module>";
    return s + "</schema>";
  };
  schema_ok(nested(kMaxDepth - 1));  // with <schema>, exactly kMaxDepth deep
  CHECK_CONTAINS(schema_error(nested(kMaxDepth)), "elements nest deeper than 32 levels");
  std::string prompt = "<prompt schema=\"s\">";
  for (int i = 0; i < kMaxDepth; ++i) prompt += "<m>";
  for (int i = 0; i < kMaxDepth; ++i) prompt += "</m>";
  CHECK_CONTAINS(prompt_error(prompt + "</prompt>"), "elements nest deeper than 32 levels");

  std::string big = "<schema name=\"s\">" + std::string(kMaxSourceBytes, 'x') + "</schema>";
  CHECK_CONTAINS(schema_error(big), "s.xml:1:1: input is " + std::to_string(big.size()) +
                                        " bytes, more than the limit of 4194304");
  big.resize(kMaxSourceBytes - 9);
  schema_ok(big + "</schema>");

  std::string many = "<schema name=\"s\">";
  for (int i = 0; i <= kMaxModules; ++i) many += "<module name=\"m" + std::to_string(i) + "\"/>";
  CHECK_CONTAINS(schema_error(many + "</schema>"), "more than 4096 modules in one schema");
}

BOOST_AUTO_TEST_CASE(dtds_and_entities_are_refused_never_expanded) {
  testing::TempDir dir;
  write(dir.path + "/secret.txt", "top secret");
  const std::string xxe = "<!DOCTYPE schema [<!ENTITY xxe SYSTEM \"file://" + dir.path +
                          "/secret.txt\">]>\n<schema name=\"s\"><module name=\"m\">&xxe;</module></schema>";
  CHECK_CONTAINS(schema_error(xxe), "s.xml:1:1: document type declaration (<!DOCTYPE ...>)");
  CHECK_CONTAINS(prompt_error("<!DOCTYPE p><prompt schema=\"s\"/>"), "document type declaration");
  // Without a DTD an entity reference is text as written: pugixml expands
  // only the five predefined entities and character references.
  Schema s = schema_ok("<schema name=\"s\"><module name=\"m\">&xxe; &amp; &#65;</module></schema>");
  BOOST_TEST(s.children[0].children[0].text == "&xxe; & A");
}

BOOST_AUTO_TEST_CASE(xml_errors) {
  CHECK_CONTAINS(schema_error(""), "s.xml:1:1: empty input; expected <schema name=\"...\">");
  CHECK_CONTAINS(schema_error(" \n\t"), "empty input");
  CHECK_CONTAINS(schema_error("<schema name=\"s\">\n  <module name=\"a\">\n</schema>"),
                 "s.xml:3:3: malformed XML: Start-end tags mismatch");
  CHECK_CONTAINS(schema_error("<schema name=\"s\">\n  <module name=\"a\">"),
                 "s.xml:2:20: malformed XML: Start-end tags mismatch; the input ends inside an "
                 "element; expected its end tag");
  CHECK_CONTAINS(schema_error("<schema name=\"s\"/>\n<schema name=\"t\"/>"),
                 "s.xml:2:1: second root element <schema>");
  CHECK_CONTAINS(schema_error("<schema name=\"s\"/>\nstray"),
                 "s.xml:2:1: text outside the root element");
  CHECK_CONTAINS(schema_error(std::string("<schema name=\"s\">a\0b</schema>", 24)),
                 "s.xml:1:19: NUL byte");
  CHECK_CONTAINS(schema_error("<schema name=\"s\" name=\"t\"/>"),
                 "s.xml:1:18: duplicate attribute 'name' on <schema>");
  CHECK_CONTAINS(schema_error("<schema name=\"a/b\"/>"), "s.xml:1:9: invalid schema name 'a/b'");
  CHECK_CONTAINS(schema_error("<schema name=\"s\"><module name=\"2nd\"/></schema>"),
                 "invalid module name '2nd'; expected a letter or '_', then letters");
  CHECK_CONTAINS(schema_error("<schema name=\"s\"><module name=\"\"/></schema>"),
                 "invalid module name ''");
  CHECK_CONTAINS(schema_error("<schema name=\"s\"><module name=\"m\"><parameter name=\"p\" "
                              "length=\"65537\"/></module></schema>"),
                 "length=\"65537\" on <parameter> 'p'; expected an integer from 1 to 65536");
  schema_ok(
      "<schema name=\"s\"><module name=\"m\"><parameter name=\"p\" length=\"65536\"/>"
      "</module></schema>");
  CHECK_CONTAINS(schema_error("<schema name=\"s\"><module name=\"m\"><parameter name=\"p\" "
                              "length=\"4\">x</parameter></module></schema>"),
                 "text inside <parameter> 'p'");
  CHECK_CONTAINS(schema_error("<schema name=\"s\"><module name=\"m\"><user><system/></user>"
                              "</module></schema>"),
                 "<system> inside <user>: role tags do not nest");
}

BOOST_AUTO_TEST_CASE(prompt_structure_and_locations) {
  const std::string text = R"(<prompt schema="restaurant">
  <trattoria>
    <menu day="Tuesday"><specials/></menu>
  </trattoria>
  <user>What is on   the menu?</user>
  <assistant/>
  and some plain text
  <user><![CDATA[a <b>]]></user>
</prompt>)";
  Prompt p = prompt_ok(text);
  BOOST_TEST(p.schema == "restaurant");
  check_at(p.location, "p.xml", 1, 1);
  BOOST_REQUIRE(p.imports.size() == 1u);
  const ModuleRef& t = p.imports[0];
  BOOST_TEST(t.name == "trattoria");
  BOOST_TEST(t.arguments.empty());
  check_at(t.location, "p.xml", 2, 3);
  BOOST_REQUIRE(t.children.size() == 1u);
  const ModuleRef& menu = t.children[0];
  BOOST_TEST(menu.name == "menu");
  BOOST_TEST(menu.arguments.size() == 1u);
  BOOST_TEST(menu.arguments.at("day") == "Tuesday");
  check_at(menu.location, "p.xml", 3, 5);
  BOOST_REQUIRE(menu.children.size() == 1u);
  BOOST_TEST(menu.children[0].name == "specials");
  check_at(menu.children[0].location, "p.xml", 3, 25);

  BOOST_REQUIRE(p.turns.size() == 4u);
  BOOST_TEST((p.turns[0].role == Role::kUser));
  BOOST_TEST(p.turns[0].text == "What is on   the menu?");
  check_at(p.turns[0].location, "p.xml", 5, 3);
  BOOST_TEST((p.turns[1].role == Role::kAssistant));
  BOOST_TEST(p.turns[1].text == "");  // an empty turn is kept
  BOOST_TEST((p.turns[2].role == Role::kNone));
  BOOST_TEST(p.turns[2].text == "and some plain text");
  check_at(p.turns[2].location, "p.xml", 7, 3);
  BOOST_TEST(p.turns[3].text == "a <b>");

  Prompt empty = prompt_ok("<prompt schema=\"s\"/>");
  BOOST_TEST(empty.imports.empty());
  BOOST_TEST(empty.turns.empty());
}

BOOST_AUTO_TEST_CASE(prompt_errors) {
  CHECK_CONTAINS(prompt_error("<prompt schema=\"s\">hi\n<menu/></prompt>"),
                 "p.xml:2:1: module import <menu> after the new text (text at p.xml:1:20); "
                 "expected module imports before the new text");
  CHECK_CONTAINS(prompt_error("<prompt schema=\"s\"><menu>x</menu></prompt>"),
                 "p.xml:1:26: text inside module import <menu>");
  CHECK_CONTAINS(prompt_error("<prompt schema=\"s\"><menu><user>x</user></menu></prompt>"),
                 "p.xml:1:26: <user> inside module import <menu>");
  CHECK_CONTAINS(prompt_error("<prompt schema=\"s\"><user>a <b/></user></prompt>"),
                 "p.xml:1:28: <b> inside <user>; expected text only");
  CHECK_CONTAINS(prompt_error("<prompt schema=\"s\"><user who=\"me\">a</user></prompt>"),
                 "unknown attribute 'who' on <user>; expected no attributes there");
  CHECK_CONTAINS(prompt_error("<prompt schema=\"s\"><m a=\"1\" a=\"2\"/></prompt>"),
                 "p.xml:1:29: duplicate attribute 'a' on module import <m>");
  CHECK_CONTAINS(prompt_error("<prompt schema=\"\"/>"), "<prompt> names no schema");
  CHECK_CONTAINS(prompt_error("<prompt schema=\"s\" model=\"x\"/>"),
                 "unknown attribute 'model' on <prompt>; expected schema");
  CHECK_CONTAINS(prompt_error(""), "empty input; expected <prompt schema=\"...\">");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache::pml
