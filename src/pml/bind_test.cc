#include <boost/test/unit_test.hpp>

#include "pml/pml.h"

namespace pcache::pml {
namespace {

// Line by line, so that locations are easy to check.
const char* kSchema = R"(<schema name="restaurant">
  <system>You help diners.</system>
  <union>
    <module name="bistro">Bistro Lune</module>
    <module name="trattoria">Trattoria Verde
      <module name="menu">Menu for <parameter name="day" length="8"/>
        <module name="specials">Truffle risotto.</module>
        <user>I eat <parameter name="diet" length="4"/> food.</user>
      </module>
      <module name="hours">Noon to ten.</module>
    </module>
  </union>
  <system><module name="policy">No pets.</module></system>
  <module name="weather" cache="false">Sunny.</module>
</schema>)";

Schema schema() {
  auto s = parse_schema(kSchema, "schema.xml");
  BOOST_REQUIRE_MESSAGE(s.ok(), s.status().to_string());
  return std::move(s).value();
}

Prompt prompt(const std::string& imports) {
  auto p = parse_prompt("<prompt schema=\"restaurant\">" + imports + "<user>Hi</user></prompt>",
                        "p.xml");
  BOOST_REQUIRE_MESSAGE(p.ok(), p.status().to_string());
  return std::move(p).value();
}

std::string bind_error(const std::string& imports) {
  Schema s = schema();
  auto b = bind(s, prompt(imports));
  BOOST_REQUIRE_MESSAGE(!b.ok(), "bound, but expected an error: " + imports);
  BOOST_TEST(b.status().code() == StatusCode::kInvalidArgument);
  return b.status().message();
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

#define CHECK_CONTAINS(s, part) \
  BOOST_TEST(contains(s, part), "'" << (s) << "' lacks '" << (part) << "'")

}  // namespace

BOOST_AUTO_TEST_SUITE(bind_test)

BOOST_AUTO_TEST_CASE(selections_in_schema_order) {
  Schema s = schema();
  // The prompt's order differs from the schema's on purpose.
  Prompt p = prompt(
      "<weather/><policy/><trattoria><hours/>"
      "<menu diet=\"veg\" day=\"Tuesday\"><specials/></menu></trattoria>");
  auto b = bind(s, p);
  BOOST_REQUIRE_MESSAGE(b.ok(), b.status().to_string());
  const std::vector<Selection>& sel = *b;
  BOOST_REQUIRE(sel.size() == 6u);
  const std::vector<std::string> paths = {
      "trattoria",       "trattoria/menu", "trattoria/menu/specials",
      "trattoria/hours", "policy",         "weather"};
  for (size_t i = 0; i < paths.size(); ++i) BOOST_TEST(sel[i].path == paths[i]);

  // Each points at its node in the schema given.
  const Node& trattoria = s.children[1].children[1];
  BOOST_TEST(sel[0].module == &trattoria);
  BOOST_TEST(sel[1].module == &trattoria.children[1]);
  BOOST_TEST(sel[2].module == &trattoria.children[1].children[2]);
  BOOST_TEST(sel[3].module == &trattoria.children[2]);
  BOOST_TEST(sel[4].module == &s.children[2].children[0]);
  BOOST_TEST(sel[5].module == &s.children[3]);
  BOOST_TEST(!sel[5].module->cached);

  BOOST_TEST(sel[0].arguments.empty());
  BOOST_TEST(sel[1].arguments.size() == 2u);
  BOOST_TEST(sel[1].arguments.at("day") == "Tuesday");
  BOOST_TEST(sel[1].arguments.at("diet") == "veg");
  BOOST_TEST(sel[1].location.to_string() == "p.xml:1:67");
  BOOST_TEST(sel[5].location.to_string() == "p.xml:1:29");
}

BOOST_AUTO_TEST_CASE(other_selections) {
  Schema s = schema();
  auto none = bind(s, prompt(""));
  BOOST_REQUIRE(none.ok());
  BOOST_TEST(none->empty());

  auto bistro = bind(s, prompt("<bistro/>"));
  BOOST_REQUIRE(bistro.ok());
  BOOST_REQUIRE(bistro->size() == 1u);
  BOOST_TEST((*bistro)[0].path == "bistro");
  BOOST_TEST((*bistro)[0].module == &s.children[1].children[0]);

  // Pointers go into the schema passed, not into another copy of it.
  Schema copy = s;
  auto c = bind(copy, prompt("<bistro/>"));
  BOOST_REQUIRE(c.ok());
  BOOST_TEST((*c)[0].module == &copy.children[1].children[0]);
}

BOOST_AUTO_TEST_CASE(errors) {
  {
    Schema s = schema();
    auto p = parse_prompt("<prompt schema=\"cafe\"/>", "p.xml");
    BOOST_REQUIRE(p.ok());
    auto b = bind(s, *p);
    BOOST_REQUIRE(!b.ok());
    CHECK_CONTAINS(b.status().message(),
                   "p.xml:1:1: prompt is for schema 'cafe'; expected 'restaurant'");
  }
  CHECK_CONTAINS(bind_error("<pizzeria/>"),
                 "p.xml:1:29: unknown module 'pizzeria' at the top level of schema "
                 "'restaurant'; expected one of: bistro, trattoria, policy, weather");
  CHECK_CONTAINS(bind_error("<trattoria><wine/></trattoria>"),
                 "p.xml:1:40: unknown module 'wine' inside module 'trattoria'; expected one "
                 "of: menu, hours");
  CHECK_CONTAINS(bind_error("<bistro><menu day=\"x\" diet=\"y\"/></bistro>"),
                 "module 'menu' cannot be imported inside module 'bistro': it is "
                 "'trattoria/menu'");
  CHECK_CONTAINS(bind_error("<weather><x/></weather>"),
                 "unknown module 'x' inside module 'weather'; expected no module here");
  CHECK_CONTAINS(bind_error("<specials/>"),
                 "module 'specials' cannot be imported at the top level of schema 'restaurant': "
                 "it is 'trattoria/menu/specials'; expected it inside the import of its parent");
  CHECK_CONTAINS(bind_error("<weather/>\n<weather/>"),
                 "p.xml:2:1: module 'weather' imported twice (first at p.xml:1:29)");
  CHECK_CONTAINS(bind_error("<bistro/><trattoria/>"),
                 "p.xml:1:38: modules 'bistro' (at p.xml:1:29) and 'trattoria' are members of "
                 "one union (schema.xml:3:3); expected at most one member of a union");
  CHECK_CONTAINS(bind_error("<weather celsius=\"20\"/>"),
                 "module 'weather' has no parameter 'celsius'; expected no attributes");
  CHECK_CONTAINS(bind_error("<trattoria><menu day=\"x\" diet=\"y\" wine=\"red\"/></trattoria>"),
                 "module 'trattoria/menu' has no parameter 'wine'; expected its parameters: "
                 "day, diet");
  CHECK_CONTAINS(bind_error("<trattoria><menu day=\"Monday\"/></trattoria>"),
                 "p.xml:1:40: module 'trattoria/menu' is missing parameter 'diet' (declared at "
                 "schema.xml:8:21); expected <menu diet=\"...\">");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache::pml
