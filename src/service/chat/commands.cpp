// What each chat line asks for (parsed by chat_command.hpp): say, /me, /nick, /list, /msg,
// /join, /rooms, /quit, /help, and the answers, formatted by chat_lines.hpp.
#include <fmt/format.h>
#include <algorithm>
#include <vector>

#include "server.hpp"
#include "sockit/service/chat_command.hpp"
#include "sockit/service/chat_lines.hpp"

namespace sockit::service {

namespace {

const char* help_text =
    "*** commands:\n"
    "***   /nick NAME      change your nickname\n"
    "***   /list           who is in this room\n"
    "***   /msg NICK TEXT  a private message\n"
    "***   /me ACTION      an action: * you ACTION\n"
    "***   /join #ROOM     move to another room (created on demand)\n"
    "***   /rooms          rooms and how many are in each\n"
    "***   /quit [REASON]  leave\n"
    "***   /help           this list\n"
    "*** lines not starting with / go to everyone in the room; start with // to send a /\n";

}  // namespace

void chat_server::impl::handle(member& m, std::string_view text) {
  using kind = chat_command::kind;
  const chat_command c = parse_chat_line(text);  // chat_command.hpp: what a line means
  std::string_view arg = c.arg;
  switch (c.what) {
    case kind::none:
      return;
    case kind::say:
      return say(m, arg);
    case kind::nick:
      return nick(m, arg);
    case kind::list:
      return list(m);
    case kind::msg:
      return private_message(m, c.target, c.text);
    case kind::me: {
      if (arg.empty()) return reply(m, "*** usage: /me ACTION");
      return relay(m, chat_lines::action(m.nick, neutralize(arg)), chat_event::type::action, arg);
    }
    case kind::join:
      return join(m, arg);
    case kind::rooms: {
      std::string out = "*** rooms:";
      for (auto& [key, r] : rooms.all()) out += fmt::format(" {} ({})", r.name, r.members.size());
      return reply(m, out);
    }
    case kind::quit: {
      std::string why = arg.empty() ? "quit" : fmt::format("quit: {}", neutralize(arg));
      return leave(m, why, true, chat_lines::bye);
    }
    case kind::help:
      return rooms.send(m, std::make_shared<const std::string>(help_text));
    case kind::unknown:
      break;
  }
  reply(m, fmt::format("*** unknown command {}; /help lists the commands (start a line "
                       "with // to send a /)",
                       neutralize(c.word.substr(0, 32))));
}

void chat_server::impl::say(member& m, std::string_view text) {
  relay(m, chat_lines::message(m.nick, neutralize(text)), chat_event::type::message, text);
}

void chat_server::impl::relay(member& m, const std::string& body, chat_event::type what,
                              std::string_view raw) {
  chat::room& r = *m.where;
  auto msg = line(body);
  rooms.remember(r, msg);
  messages.fetch_add(1, std::memory_order_relaxed);
  if (callback) emit(what, &m, neutralize(raw));
  rooms.say(r, msg, &m);
}

void chat_server::impl::nick(member& m, std::string_view name) {
  if (name.empty()) return reply(m, fmt::format("*** you are {}; /nick NAME changes it", m.nick));
  std::string why = check_nick(name);
  if (!why.empty()) return reply(m, fmt::format("*** {}: {}", neutralize(name.substr(0, 64)), why));
  std::string key = chat::lower(name);
  auto it = nicks.find(key);
  if (it != nicks.end() && it->second != &m)
    return reply(m, fmt::format("*** {} is already taken", name));
  if (name == m.nick) return reply(m, fmt::format("*** you are already {}", m.nick));
  std::string old = m.nick;
  nicks.erase(chat::lower(old));
  nicks[key] = &m;
  m.nick = std::string(name);
  emit(chat_event::type::nick_changed, &m, {}, old);
  auto notice = line(chat_lines::renamed(old, m.nick));
  rooms.send(m, notice);
  if (!m.gone && m.where) rooms.say(*m.where, notice, &m);
}

void chat_server::impl::list(member& m) {
  std::vector<std::string_view> names;
  for (auto& p : m.where->members) names.push_back(p->nick);
  std::sort(names.begin(), names.end());
  reply(m, chat_lines::member_list(m.where->name, names));
}

void chat_server::impl::private_message(member& m, std::string_view to, std::string_view text) {
  if (to.empty()) return reply(m, "*** usage: /msg NICK TEXT");
  auto it = nicks.find(chat::lower(to));
  if (it == nicks.end())
    return reply(m, fmt::format("*** no one called {} is here", neutralize(to.substr(0, 64))));
  auto keep = it->second->self();  // a drop below must not free it
  member& target = *keep;
  // The target hears of the sender's arrival before its first private line.
  if (m.where && target.where == m.where) {
    chat::slow_members slow(rooms.dropper());
    rooms.queue_notices(*m.where, slow);
    slow.drop_now();
    if (m.gone || target.gone) return;
  }
  std::string clean = neutralize(text);
  emit(chat_event::type::private_message, &m, {}, target.nick);
  rooms.send(target, line(chat_lines::private_message(m.nick, clean)));
  reply(m, chat_lines::private_sent(target.nick, clean));
}

void chat_server::impl::join(member& m, std::string_view name) {
  if (name.empty())
    return reply(m, fmt::format("*** you are in {}; /join #ROOM moves", m.where->name));
  std::string why = check_room(name);
  if (!why.empty()) return reply(m, fmt::format("*** {}: {}", neutralize(name.substr(0, 64)), why));
  if (chat::lower(name) == chat::lower(m.where->name))
    return reply(m, fmt::format("*** you are already in {}", m.where->name));
  std::string old = m.where->name;
  chat::room* from = m.where;
  rooms.take_out(m);
  if (m.gone) return;  // it could not take what was said before it left
  chat::room& to = rooms.open(name);
  if (rooms.find(old)) rooms.post_notice(*from, line(chat_lines::left_for(m.nick, to.name)));
  enter(m, to);
  emit(chat_event::type::room_changed, &m, {}, old);
}

}  // namespace sockit::service
