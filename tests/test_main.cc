// The one main() of every Boost.Test binary; suites live in the *_test.cc files.
#define BOOST_TEST_MODULE pcache
#include <boost/test/unit_test.hpp>
