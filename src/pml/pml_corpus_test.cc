// Every file of the bad-input corpus must be refused with its expected error:
//   tests/pml/errors/NN-name.xml       a schema (a prompt when named NN-prompt-*.xml)
//                                      that load_schema (load_prompt) refuses;
//   tests/pml/bind_errors/NN-name.xml  a prompt that parses but that bind() refuses
//                                      against tests/pml/bind_errors/schema.xml.
// Beside each, NN-name.expected holds one line: a substring of the message.
// Also: the example of docs/pml.md parses and binds.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "pml/pml.h"
#include "util/file_util.h"

namespace pcache::pml {
namespace {

namespace fs = std::filesystem;

std::string corpus_dir(const std::string& name) {
  return std::string(PCACHE_SOURCE_DIR) + "/tests/pml/" + name;
}

// The .xml cases of `dir` (schema.xml aside), sorted; each must have its .expected.
std::vector<fs::path> cases(const std::string& dir) {
  std::vector<fs::path> out;
  BOOST_REQUIRE_MESSAGE(fs::is_directory(dir), dir + " is not a folder");
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    const fs::path p = e.path();
    if (p.extension() == ".xml" && p.filename() != "schema.xml") out.push_back(p);
    if (p.extension() == ".expected") {
      BOOST_TEST(fs::exists(fs::path(p).replace_extension(".xml")), p.string() << " has no .xml");
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string expected_for(const fs::path& xml) {
  const std::string path = fs::path(xml).replace_extension(".expected").string();
  auto text = read_file(path, 1u << 30, "test files");
  BOOST_REQUIRE_MESSAGE(text.ok(), text.status().to_string());
  std::string line = text->substr(0, text->find('\n'));
  BOOST_REQUIRE_MESSAGE(!line.empty(), path + " is empty");
  return line;
}

void check_refused(const fs::path& xml, const Status& status) {
  const std::string expected = expected_for(xml);
  BOOST_TEST_CONTEXT(xml.filename().string()) {
    BOOST_TEST(!status.ok(), "accepted");
    BOOST_TEST(status.code() == StatusCode::kInvalidArgument, status.to_string());
    BOOST_TEST(status.message().find(expected) != std::string::npos,
               "'" << status.message() << "' lacks '" << expected << "'");
  }
}

// The ```xml block after `marker` in docs/pml.md.
std::string doc_block(const std::string& doc, const std::string& marker) {
  const std::string open = marker + "\n```xml\n";
  const size_t begin = doc.find(open);
  BOOST_REQUIRE_MESSAGE(begin != std::string::npos, "docs/pml.md lacks " + marker);
  const size_t start = begin + open.size();
  const size_t end = doc.find("```", start);
  BOOST_REQUIRE(end != std::string::npos);
  return doc.substr(start, end - start);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(pml_corpus_test)

// The example of docs/pml.md is the corpus schema, and its prompt binds.
BOOST_AUTO_TEST_CASE(docs_example) {
  auto doc = read_file(std::string(PCACHE_SOURCE_DIR) + "/docs/pml.md", 1u << 30, "test files");
  BOOST_REQUIRE_MESSAGE(doc.ok(), doc.status().to_string());
  const std::string schema_text = doc_block(*doc, "<!-- example-schema -->");
  auto file = read_file(corpus_dir("bind_errors") + "/schema.xml", 1u << 30, "test files");
  BOOST_REQUIRE(file.ok());
  BOOST_TEST(schema_text == *file);
  auto schema = parse_schema(schema_text, "pml.md");
  BOOST_REQUIRE_MESSAGE(schema.ok(), schema.status().to_string());
  auto prompt = parse_prompt(doc_block(*doc, "<!-- example-prompt -->"), "pml.md");
  BOOST_REQUIRE_MESSAGE(prompt.ok(), prompt.status().to_string());
  auto selected = bind(*schema, *prompt);
  BOOST_REQUIRE_MESSAGE(selected.ok(), selected.status().to_string());
  BOOST_REQUIRE(selected->size() == 4u);
  BOOST_TEST((*selected)[0].path == "trattoria");
  BOOST_TEST((*selected)[1].path == "trattoria/menu");
  BOOST_TEST((*selected)[1].arguments.at("day") == "Tuesday");
  BOOST_TEST((*selected)[2].path == "trattoria/menu/specials");
  BOOST_TEST((*selected)[3].path == "weather");
  BOOST_TEST((*selected)[3].arguments.at("forecast") == "light rain");
  BOOST_TEST(!(*selected)[3].module->cached);
  BOOST_REQUIRE(prompt->turns.size() == 1u);
  BOOST_TEST((prompt->turns[0].role == Role::kUser));
}

BOOST_AUTO_TEST_CASE(parse_errors) {
  const std::vector<fs::path> files = cases(corpus_dir("errors"));
  BOOST_REQUIRE_MESSAGE(!files.empty(), "no cases in " + corpus_dir("errors"));
  for (const fs::path& xml : files) {
    const bool is_prompt = xml.filename().string().find("-prompt-") != std::string::npos;
    check_refused(
        xml, is_prompt ? load_prompt(xml.string()).status() : load_schema(xml.string()).status());
  }
  BOOST_TEST_MESSAGE(files.size() << " parse error cases");
}

BOOST_AUTO_TEST_CASE(bind_errors) {
  const std::string dir = corpus_dir("bind_errors");
  auto schema = load_schema(dir + "/schema.xml");
  BOOST_REQUIRE_MESSAGE(schema.ok(), schema.status().to_string());
  const std::vector<fs::path> files = cases(dir);
  BOOST_REQUIRE_MESSAGE(!files.empty(), "no cases in " + dir);
  for (const fs::path& xml : files) {
    auto prompt = load_prompt(xml.string());
    BOOST_TEST_CONTEXT(xml.filename().string()) {
      BOOST_REQUIRE_MESSAGE(prompt.ok(), prompt.status().to_string());
    }
    check_refused(xml, bind(*schema, *prompt).status());
  }
  BOOST_TEST_MESSAGE(files.size() << " bind error cases");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache::pml
