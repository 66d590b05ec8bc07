// The chat rooms without sockets (src/service/chat/room.hpp): fan-out order, what a member
// who spoke gets back, notice batches, history, and slow members dropped after the pass.
#include "service/chat/room.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace chat = sockit::service::chat;

namespace {

// A member that records what it was queued, and refuses once `capacity` messages are in.
struct fake_member final : chat::room_member {
  explicit fake_member(std::string n) { nick = std::move(n); }
  bool push(chat::shared_message msg) override {
    if (got.size() >= capacity) return false;
    got.push_back(*msg);
    return true;
  }
  std::vector<std::string> got;
  std::size_t capacity = std::numeric_limits<std::size_t>::max();
};

chat::shared_message text(std::string s) { return std::make_shared<const std::string>(s); }

struct room_fixture : ::testing::Test {
  std::vector<std::string> dropped;  // nicks, in the order dropped
  int said_calls = 0, noticed_calls = 0;
  chat::rooms rooms{"#lobby",
                    3,
                    {[this](chat::room_member& m) {
                       if (m.gone) return;
                       dropped.push_back(m.nick);
                       m.gone = true;
                       rooms.take_out(m);
                     },
                     [this] { ++said_calls; }, [this] { ++noticed_calls; }}};

  std::shared_ptr<fake_member> join(const std::string& nick, chat::room& r) {
    auto m = std::make_shared<fake_member>(nick);
    chat::slow_members slow(rooms.dropper());
    rooms.add(*m, r, slow);
    rooms.post_notice(r, text(nick + " joined\n"));
    return m;
  }
};

}  // namespace

TEST_F(room_fixture, LinesGoOutInOrderOneMessagePerMemberWithoutTheirOwn) {
  auto& r = rooms.lobby();
  auto a = join("a", r), b = join("b", r), c = join("c", r);
  rooms.flush_notices();
  for (auto* m : {a.get(), b.get(), c.get()}) m->got.clear();

  rooms.say(r, text("<a> one\n"), a.get());
  rooms.say(r, text("<b> two\n"), b.get());
  rooms.say(r, text("<a> three\n"), a.get());
  EXPECT_EQ(said_calls, 3);
  EXPECT_TRUE(c->got.empty());  // nothing goes out before the hand-out

  // c said nothing: the whole batch, shared. a and b: the others' lines only, in order.
  const auto before = rooms.deliveries.load();
  EXPECT_EQ(rooms.hand_out_all(), 2u + 0u + 1u);  // lines beyond one per message
  EXPECT_EQ(c->got, (std::vector<std::string>{"<a> one\n<b> two\n<a> three\n"}));
  EXPECT_EQ(a->got, (std::vector<std::string>{"<b> two\n"}));
  EXPECT_EQ(b->got, (std::vector<std::string>{"<a> one\n<a> three\n"}));
  EXPECT_EQ(rooms.deliveries.load() - before, 3u + 1u + 2u);
  EXPECT_EQ(rooms.hand_out_all(), 0u);  // nothing new
  EXPECT_TRUE(dropped.empty());
}

TEST_F(room_fixture, NoticesAreBatchedAndNobodyHearsItsOwnJoin) {
  auto& r = rooms.lobby();
  auto z = join("z", r);
  rooms.flush_notices();
  EXPECT_TRUE(z->got.empty());  // its own join
  auto a = join("a", r), b = join("b", r);
  EXPECT_GE(noticed_calls, 3);
  rooms.flush_notices();
  // z was there before the batch: one message. a came in during it: only what followed.
  EXPECT_EQ(z->got, (std::vector<std::string>{"a joined\nb joined\n"}));
  EXPECT_EQ(a->got, (std::vector<std::string>{"b joined\n"}));
  EXPECT_TRUE(b->got.empty());
}

TEST_F(room_fixture, WhatHappenedBeforeALineIsReadBeforeIt) {
  auto& r = rooms.lobby();
  auto a = join("a", r);
  rooms.flush_notices();
  rooms.say(r, text("<a> early\n"), a.get());
  auto b = join("b", r);  // hears nothing said before it came in
  auto c = join("c", r);
  rooms.say(r, text("<a> late\n"), a.get());  // queues the pending notices first
  rooms.hand_out_all();
  EXPECT_EQ(b->got, (std::vector<std::string>{"c joined\n", "<a> late\n"}));
  EXPECT_EQ(a->got, (std::vector<std::string>{"b joined\nc joined\n"}));
  // A direct message to a member goes after the lines said before it.
  rooms.say(r, text("<b> hi\n"), b.get());
  rooms.send(*c, text("private\n"));
  EXPECT_EQ(c->got.back(), "private\n");
  EXPECT_EQ(c->got[c->got.size() - 2], "<b> hi\n");
}

TEST_F(room_fixture, HistoryKeepsTheNewestAndReplayFitsTheBudget) {
  auto& r = rooms.lobby();
  for (auto* l : {"1\n", "22\n", "333\n", "4444\n"}) rooms.remember(r, text(l));
  ASSERT_EQ(r.history.size(), 3u);  // the newest 3
  EXPECT_EQ(*r.history.front(), "22\n");
  EXPECT_EQ(rooms.replay_from(r, 1000), 0u);
  EXPECT_EQ(rooms.replay_from(r, 9), 1u);  // "333\n4444\n" fits, "22\n" does not
  EXPECT_EQ(rooms.replay_from(r, 2), 3u);  // nothing fits
}

TEST_F(room_fixture, SlowMembersAreDroppedAfterThePassNotDuringIt) {
  auto& r = rooms.lobby();
  auto a = join("a", r), slow = join("slow", r), c = join("c", r);
  rooms.flush_notices();
  slow->capacity = slow->got.size();  // full from now on
  rooms.say(r, text("<a> x\n"), a.get());
  rooms.hand_out_all();
  EXPECT_EQ(dropped, (std::vector<std::string>{"slow"}));
  EXPECT_EQ(c->got.back(), "<a> x\n");  // the others got the line all the same
  EXPECT_EQ(r.members.size(), 2u);
  EXPECT_EQ(slow->where, nullptr);
  EXPECT_EQ(slow->left_room, "#lobby");

  // A direct message that does not fit drops the member too.
  c->capacity = c->got.size();
  rooms.send(*c, text("too much\n"));
  EXPECT_EQ(dropped, (std::vector<std::string>{"slow", "c"}));
}

TEST_F(room_fixture, SlowMembersHelperDropsOnceInOrder) {
  auto a = std::make_shared<fake_member>("a"), b = std::make_shared<fake_member>("b");
  {
    chat::slow_members slow(rooms.dropper());
    slow.add(a);
    slow.add(b);
    EXPECT_TRUE(slow.contains(a.get()));
    EXPECT_TRUE(dropped.empty());
    slow.drop_now();
    EXPECT_EQ(dropped, (std::vector<std::string>{"a", "b"}));
    EXPECT_TRUE(slow.empty());
  }
  EXPECT_EQ(dropped.size(), 2u);  // the destructor has nothing left to drop
}

TEST_F(room_fixture, EmptyRoomsGoAwayButTheLobbyStays) {
  auto& dev = rooms.open("#Dev");
  EXPECT_EQ(dev.name, "#Dev");
  EXPECT_EQ(&rooms.open("#dev"), &dev);  // names are compared without case
  auto a = join("a", dev);
  rooms.take_out(*a);
  EXPECT_EQ(rooms.find("#dev"), nullptr);
  EXPECT_EQ(a->left_room, "#Dev");
  auto b = join("b", rooms.lobby());
  rooms.take_out(*b);
  EXPECT_NE(rooms.find("#LOBBY"), nullptr);
}
