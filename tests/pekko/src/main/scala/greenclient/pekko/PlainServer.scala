// The broadcast server as most Akka IO / Pekko IO servers are written: one actor
// binds, registers itself for every connection, prints what it receives and
// writes SendToClients(message) to every client with one plain Write each.
//
// It works while every client keeps up. What goes wrong with it (see README.rst
// beside pom.xml, measured by scripts/pekko_flood.py):
//   * A connection actor holds one write at a time. A Write that arrives while
//     the previous one is still being written to the socket is refused with
//     CommandFailed, and the message never leaves. With Register's default
//     (useResumeWriting = true) every later Write to that connection is refused
//     too, until the server sends ResumeWriting, which this one never does: after
//     one fast broadcast, a client hears nothing more, silently.
//   * Received is a piece of a byte stream, not a message: printing it as UTF-8
//     cuts characters split between two pieces, and parsing it as one JSON
//     document fails whenever it holds half a message or two.
//
// The part below the line "Test control" exists for the tests only: it counts
// the refused writes, and reports what the server prints in a form the tests
// can read (PRINTED N "text", N being the connection's number).

package greenclient.pekko

import java.net.InetSocketAddress

import org.apache.pekko.actor.{Actor, ActorRef, ActorSystem, Props}
import org.apache.pekko.io.{IO, Tcp}
import org.apache.pekko.util.ByteString

object PlainServer {
  final case class SendToClients(message: String)

  def main(args: Array[String]): Unit = Control.main("plain", args) { (system, port, delimiter) =>
    system.actorOf(Props(new PlainServer(port, delimiter)), "server")
  }
}

class PlainServer(port: Int, delimiter: String) extends Actor {
  import PlainServer.SendToClients
  import Tcp._
  import context.system

  IO(Tcp) ! Bind(self, new InetSocketAddress("127.0.0.1", port))

  private var clients = Set.empty[ActorRef]

  def receive: Receive = users.orElse(testControl)

  private def users: Receive = {
    case Bound(local) =>
      Control.say(s"LISTENING ${local.getHostString} ${local.getPort}")
    case CommandFailed(_: Bind) =>
      Control.say("ERROR cannot bind")
      context.system.terminate()
    case Connected(_, _) =>
      val connection = sender()
      connection ! Register(self)
      clients += connection
      connected(connection)
    case Received(data) =>
      printed(sender(), data.utf8String)
    case PeerClosed =>
      clients -= sender()
      disconnected(sender())
    case SendToClients(message) =>
      clients.foreach(_ ! Write(ByteString(message)))
  }

  // -- Test control -------------------------------------------------------------

  private var numbers = Map.empty[ActorRef, Int]   // connection -> its number, for PRINTED
  private var nextNumber = 0
  private var refused = Map.empty[ActorRef, Int]   // connection -> Writes refused
  private var flood: Option[(ActorRef, Int, Set[ActorRef])] = None // asker, N, probes pending

  private case object ProbeAck extends Event

  private def connected(connection: ActorRef): Unit = {
    nextNumber += 1
    numbers += connection -> nextNumber
    refused += connection -> 0
    Control.say(s"CONNECTED ${clients.size}")
  }

  private def disconnected(connection: ActorRef): Unit = if (numbers.contains(connection)) {
    numbers -= connection
    refused -= connection
    Control.say(s"DISCONNECTED ${clients.size}")
    probed(connection)
  }

  private def printed(connection: ActorRef, text: String): Unit =
    Control.say(s"PRINTED ${numbers.getOrElse(connection, 0)} ${Control.quote(text)}")

  private def probed(connection: ActorRef): Unit = flood match {
    case Some((asker, n, pending)) if pending.contains(connection) =>
      val left = pending - connection
      if (left.nonEmpty) flood = Some((asker, n, left))
      else {
        flood = None
        val counts = clients.toList.map(c => refused.getOrElse(c, 0)).sorted
        asker ! Control.Reply(s"FLOOD $n refused ${counts.mkString(",")}")
      }
    case _ =>
  }

  private def testControl: Receive = {
    case _: ConnectionClosed => // Closed, ErrorClosed, Aborted, ConfirmedClosed: also the end
      clients -= sender()
      disconnected(sender())
    case CommandFailed(Write(_, ProbeAck)) =>
      probed(sender())
    case CommandFailed(_: Write) =>
      refused += sender() -> (refused.getOrElse(sender(), 0) + 1)
    case ProbeAck =>
      probed(sender())
    case Control.SendBytes(bytes) =>
      clients.foreach(_ ! Write(bytes))
      sender() ! Control.Done
    case Control.SendText(text) =>
      self.forward(SendToClients(text))
      sender() ! Control.Done
    case Control.SendJson(json) =>
      self.forward(SendToClients(Control.frame(json, delimiter)))
      sender() ! Control.Done
    case Control.CloseAll =>
      clients.foreach(_ ! Close)
      sender() ! Control.Done
    case Control.Flood(n) =>
      // A broadcast as fast as the actor can go, one plain Write per message and
      // client; then an empty Write with an ack to each client: its answer (ack or
      // CommandFailed) comes after every earlier Write's refusal, so once all are in,
      // the counts are final.
      for (i <- 0 until n) self ! SendToClients(Control.frame(Control.floodMessage(i), delimiter))
      if (clients.isEmpty) sender() ! Control.Reply(s"FLOOD $n refused ")
      else {
        self ! Control.StartProbe(sender(), n)
      }
    case Control.StartProbe(asker, n) =>
      flood = Some((asker, n, clients))
      clients.foreach(_ ! Write(ByteString.empty, ProbeAck))
  }
}
